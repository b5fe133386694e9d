//! The news watch: items newest first with their source, date, language and link; an item
//! in Arabic is laid out right to left whatever the page's language.

use maud::{Markup, html};
use passerelle_model::{Document, NewsItem, NewsLanguage};

use super::dashboard::Opened;
use super::shown_status;
use crate::lang::Lang;

/// The news items among `docs`, newest first (undated ones last).
pub(crate) fn newest_first(docs: &[Opened]) -> Vec<(&Opened, &NewsItem)> {
    let mut items: Vec<(&Opened, &NewsItem)> = docs
        .iter()
        .filter_map(|o| match &o.typed {
            Ok(Document::NewsItem(n)) => Some((o, n)),
            _ => None,
        })
        .collect();
    items.sort_by(|a, b| {
        b.1.date
            .cmp(&a.1.date)
            .then_with(|| a.1.title.cmp(&b.1.title))
    });
    items
}

/// The `lang` and `dir` attributes of an item's own text.
fn lang_dir(n: &NewsItem) -> (Option<&'static str>, &'static str) {
    match n.language {
        Some(NewsLanguage::Ar) => (Some("ar"), "rtl"),
        Some(NewsLanguage::Fr) => (Some("fr"), "ltr"),
        Some(NewsLanguage::En) => (Some("en"), "ltr"),
        Some(NewsLanguage::Other) | None => (None, "auto"),
    }
}

/// The news page.
pub(crate) fn list(lang: Lang, docs: &[Opened]) -> Markup {
    let items = newest_first(docs);
    html! {
        h1 { (lang.t("news")) }
        @if items.is_empty() { p.none { (lang.t("none")) } }
        ol #news.items {
            @for (o, n) in &items { (item(lang, o, n)) }
        }
    }
}

fn item(lang: Lang, o: &Opened, n: &NewsItem) -> Markup {
    let (code, dir) = lang_dir(n);
    html! {
        li.news lang=[code] dir=(dir) {
            a.title href={ "/doc/" (o.id) } { (n.title) }
            p.meta {
                @if let Some(source) = &n.source { span.source { (source) } " · " }
                bdi.date { (n.date.map_or("—".to_owned(), |d| d.to_string())) } " · "
                span.language { (n.language.map_or("—", |l| l.as_str())) } " · "
                a.link href=(n.url) rel="noopener noreferrer" { (lang.t("read_article")) }
            }
            @if !n.summary.is_empty() { p.summary { (n.summary) } }
        }
    }
}

/// A news item's page.
pub(crate) fn page(lang: Lang, n: &NewsItem, heads: &str) -> Markup {
    let (code, dir) = lang_dir(n);
    html! {
        p.kind { (lang.t("news_item")) }
        article.news lang=[code] dir=(dir) {
            h1 #title { (n.title) }
            (super::mission::text_area(lang.t("summary"), "summary", &n.summary, heads, 4))
        }
        dl.facts {
            dt { (lang.t("source")) } dd { (n.source.as_deref().unwrap_or("—")) }
            dt { (lang.t("date")) } dd { bdi { (n.date.map_or("—".to_owned(), |d| d.to_string())) } }
            dt { (lang.t("language")) } dd { (n.language.map_or("—", |l| l.as_str())) }
            dt { (lang.t("relevance")) } dd { (shown_status(lang, &n.relevance)) }
            dt { (lang.t("tags")) } dd { @if n.tags.is_empty() { "—" } (n.tags.join(", ")) }
            dt { (lang.t("link")) } dd { a href=(n.url) rel="noopener noreferrer" { bdi { (n.url) } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use passerelle_core::DocumentId;
    use passerelle_model::{Stamp, news_item};

    #[test]
    fn newest_first_and_arabic_items_right_to_left() {
        let stamp = Stamp::new("samira", jiff::Timestamp::UNIX_EPOCH);
        let make = |url: &str, title: &str, language, day| {
            let mut doc =
                news_item::new_news_item(url, title, language, day, Some("Oujda City"), &stamp)
                    .unwrap();
            let typed = passerelle_model::open(&mut doc).map_err(|e| e.to_string());
            Opened {
                id: DocumentId::random(),
                heads: String::new(),
                doc,
                typed,
            }
        };
        let docs = vec![
            make(
                "https://a.ma/1",
                "Ancien",
                NewsLanguage::Fr,
                Some(date(2026, 3, 1)),
            ),
            make(
                "https://a.ma/2",
                "بلاغ",
                NewsLanguage::Ar,
                Some(date(2026, 11, 20)),
            ),
            make("https://a.ma/3", "Sans date", NewsLanguage::Fr, None),
            make(
                "https://a.ma/4",
                "Récent",
                NewsLanguage::Fr,
                Some(date(2026, 11, 25)),
            ),
        ];
        let titles: Vec<&str> = newest_first(&docs)
            .iter()
            .map(|(_, n)| n.title.as_str())
            .collect();
        assert_eq!(titles, ["Récent", "بلاغ", "Ancien", "Sans date"]);
        let html = list(Lang::Fr, &docs).into_string();
        assert!(
            html.contains(r#"<li class="news" lang="ar" dir="rtl">"#),
            "{html}"
        );
        assert_eq!(html.matches(r#"dir="ltr""#).count(), 3, "{html}");
        assert!(html.contains(r#"href="https://a.ma/2""#), "{html}");
    }
}
