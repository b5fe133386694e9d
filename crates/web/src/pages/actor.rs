//! The actor directory: a search box, filtered on the server (every word of the query must
//! be found in an actor's names, category, themes, contacts — addresses hold the city —,
//! notes or relationship owner; case, accents and Arabic vowel marks do not matter), the
//! results, and an actor's page.

use maud::{Markup, html};
use passerelle_model::{Actor, ActorKind, Document};

use super::dashboard::Opened;
use super::{Reference, reference, shown, title_of};
use crate::lang::Lang;

/// The longest query searched (longer ones are cut).
pub(crate) const MAX_QUERY_CHARS: usize = 200;

/// `text` folded for matching: lower case, Latin letters without their accents (é → e,
/// œ → oe), Arabic without vowel marks and tatweel, and alef/yeh/teh marbuta variants made
/// one.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let plain: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => "i",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ś' | 'š' | 'ş' => "s",
            'ź' | 'ż' | 'ž' => "z",
            'ł' => "l",
            'ř' => "r",
            'ť' | 'ţ' => "t",
            'ğ' => "g",
            'œ' => "oe",
            'æ' => "ae",
            'ß' => "ss",
            // Arabic: hamza-bearing and madda alefs, alef maqsura, teh marbuta.
            'أ' | 'إ' | 'آ' | 'ٱ' => "ا",
            'ى' => "ي",
            'ة' => "ه",
            // Arabic vowel marks (fathatan … sukun, superscript alef) and tatweel.
            '\u{064B}'..='\u{0652}' | '\u{0670}' | '\u{0640}' => "",
            // Combining accents typed after the letter (decomposed text).
            '\u{0300}'..='\u{036F}' => "",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(plain);
    }
    out
}

/// Whether `actor` matches `query`: every word of the query is found (folded) in one of
/// its fields. An empty query matches every actor.
pub(crate) fn matches(lang: Lang, actor: &Actor, query: &str) -> bool {
    let words: Vec<String> = fold(query).split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return true;
    }
    let mut haystack = String::new();
    let mut add = |s: &str| {
        haystack.push_str(&fold(s));
        haystack.push('\n');
    };
    for (_, name) in actor.names.iter() {
        add(name);
    }
    if let Some(category) = actor.category {
        add(category.as_str());
        add(lang.t(category_key(category.as_str())));
    }
    for theme in &actor.themes {
        add(theme);
    }
    for contact in &actor.contacts {
        add(&contact.value);
        if let Some(label) = &contact.label {
            add(label);
        }
    }
    add(&actor.notes);
    if let Some(owner) = &actor.owner {
        add(owner.value());
    }
    words.iter().all(|w| haystack.contains(w.as_str()))
}

/// The label key of a category (`cat_commune`…).
fn category_key(category: &str) -> &'static str {
    match category {
        "commune" => "cat_commune",
        "wilaya" => "cat_wilaya",
        "university" => "cat_university",
        "association" => "cat_association",
        "business" => "cat_business",
        "funder" => "cat_funder",
        "media" => "cat_media",
        "training" => "cat_training",
        "cultural" => "cat_cultural",
        "institution" => "cat_institution",
        _ => "cat_other",
    }
}

/// The directory: the search form and the actors matching `query`, by name.
pub(crate) fn directory(lang: Lang, docs: &[Opened], query: &str) -> Markup {
    let mut found: Vec<(&Opened, &Actor, String)> = docs
        .iter()
        .filter_map(|o| match &o.typed {
            Ok(doc @ Document::Actor(a)) if matches(lang, a, query) => {
                Some((o, a, title_of(lang, doc)))
            }
            _ => None,
        })
        .collect();
    found.sort_by_key(|(_, _, name)| fold(name));
    let total = docs
        .iter()
        .filter(|o| matches!(o.typed, Ok(Document::Actor(_))))
        .count();
    html! {
        h1 { (lang.t("actors")) }
        form.search method="get" action="/actors" role="search" {
            input type="search" name="q" value=(query) placeholder=(lang.t("search_actors"))
                aria-label=(lang.t("search")) maxlength=(MAX_QUERY_CHARS) dir="auto";
            button type="submit" { (lang.t("search")) }
        }
        p #actor-count { (found.len()) " / " (total) }
        @if found.is_empty() { p.none { (lang.t("none")) } }
        ul #actors {
            @for (opened, a, name) in &found {
                li.actor {
                    a href={ "/doc/" (opened.id) } { (name) }
                    " · " span.kind { (kind_word(lang, a.kind)) }
                    @if let Some(c) = a.category { " · " (lang.t(category_key(c.as_str()))) }
                    @if !a.themes.is_empty() { " · " span.themes { (a.themes.join(", ")) } }
                }
            }
        }
    }
}

fn kind_word(lang: Lang, kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::Person => lang.t("person"),
        ActorKind::Organisation => lang.t("organisation"),
    }
}

/// An actor's page. `parent` is its parent organisation, resolved.
pub(crate) fn page(lang: Lang, a: &Actor, parent: Option<&Reference>) -> Markup {
    html! {
        p.kind { (lang.t("actor")) " · " (kind_word(lang, a.kind)) }
        h1 #title { (title_of(lang, &Document::Actor(a.clone()))) }
        dl.facts {
            @for (script, name) in a.names.iter() {
                dt { (lang.t("name")) " (" (script) ")" }
                dd dir=(if script == "ar" { "rtl" } else { "auto" }) { (name) }
            }
            @if let Some(c) = a.category {
                dt { (lang.t("category")) } dd { (lang.t(category_key(c.as_str()))) }
            }
            @if let Some(parent) = parent {
                dt { (lang.t("parent")) } dd { (reference(lang, parent)) }
            }
            dt { (lang.t("themes")) } dd { @if a.themes.is_empty() { "—" } (a.themes.join(", ")) }
            dt { (lang.t("last_contact")) } dd { bdi { (shown(&a.last_contact)) } }
            dt { (lang.t("owner")) } dd { (shown(&a.owner)) }
        }
        section #contacts {
            h2 { (lang.t("contacts")) }
            @if a.contacts.is_empty() { p.none { (lang.t("none")) } }
            ul {
                @for c in &a.contacts {
                    li { span.kind { (c.kind.as_str()) } " " bdi { (c.value) }
                        @if let Some(label) = &c.label { " (" (label) ")" } }
                }
            }
        }
        section #notes {
            h2 { (lang.t("notes")) }
            @if a.notes.is_empty() { p.none { (lang.t("none")) } } @else { p dir="auto" { (a.notes) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_model::{
        ActorCategory, ContactKind, LegalBasis, Stamp, TypedDocument, actor as model,
    };

    fn actor(names: &[(&str, &str)], category: Option<ActorCategory>, city: Option<&str>) -> Actor {
        let stamp = Stamp::new("samira", jiff::Timestamp::UNIX_EPOCH);
        let mut doc = model::new_actor(
            &model::NewActor {
                kind: passerelle_model::ActorKind::Organisation,
                category,
                names: names
                    .iter()
                    .map(|(s, n)| ((*s).into(), (*n).into()))
                    .collect(),
                basis: Some(LegalBasis::PublicRole),
            },
            &stamp,
        )
        .unwrap();
        if let Some(city) = city {
            model::add_contact(&mut doc, ContactKind::Address, city, None, &stamp).unwrap();
        }
        Actor::read(&doc).unwrap()
    }

    #[test]
    fn folding_ignores_case_accents_and_arabic_marks() {
        assert_eq!(fold("Université Mohammed Ier"), "universite mohammed ier");
        assert_eq!(fold("ŒUVRE Ça"), "oeuvre ca");
        assert_eq!(fold("e\u{0301}cole"), "ecole");
        assert_eq!(fold("جَامِعَة"), "جامعه");
        assert_eq!(fold("أحمد"), fold("احمد"));
    }

    #[test]
    fn search_matches_every_word_in_any_field() {
        let ifo = actor(
            &[
                ("fr", "Institut français d'Oujda"),
                ("ar", "المعهد الفرنسي بوجدة"),
            ],
            Some(ActorCategory::Cultural),
            Some("Boulevard Mohammed V, Oujda"),
        );
        let ump = actor(
            &[("fr", "Université Mohammed Ier")],
            Some(ActorCategory::University),
            Some("Oujda"),
        );
        assert!(matches(Lang::Fr, &ifo, ""));
        assert!(matches(Lang::Fr, &ifo, "institut FRANCAIS"));
        assert!(matches(Lang::Fr, &ifo, "oujda boulevard"));
        assert!(!matches(Lang::Fr, &ifo, "institut lille"));
        assert!(matches(Lang::Fr, &ifo, "الفرنسي"));
        assert!(matches(Lang::Fr, &ump, "universite"));
        // The category, stored and in the reader's language.
        assert!(matches(Lang::Fr, &ump, "university"));
        assert!(matches(Lang::Fr, &ump, "Université oujda"));
        assert!(!matches(Lang::Fr, &ump, "cultural"));
    }
}
