//! The languages the programme's commands speak (French and English), and every string they
//! print, in one table of message keys.
//!
//! The language comes from `--lang`, else the locale (`LC_ALL`, then `LC_MESSAGES`, then
//! `LANG`, as POSIX orders them), else French: the programme works in French, and a locale
//! that says nothing (`C`, `POSIX`, unset) says nothing about the person.
//!
//! Messages hold `{0}`, `{1}`… placeholders, filled by [`fill`]. A key missing from the table
//! prints the key itself (a test checks every key used has both languages).

use std::sync::OnceLock;

/// A language of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Français.
    Fr,
    /// English.
    En,
}

static CURRENT: OnceLock<Lang> = OnceLock::new();

impl Lang {
    /// The language a locale name (`fr_FR.UTF-8`, `en_GB`, `C`) asks for, if any.
    pub(crate) fn from_locale(locale: &str) -> Option<Lang> {
        let language = locale
            .split(['_', '.', '@', '-'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match language.as_str() {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// `--lang` if given, else the first locale variable that is set and not empty, if it
    /// names French or English; else French.
    pub(crate) fn detect(flag: Option<Lang>) -> Lang {
        if let Some(lang) = flag {
            return lang;
        }
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        locale
            .as_deref()
            .and_then(Lang::from_locale)
            .unwrap_or(Lang::Fr)
    }

    /// The language chosen for this run (set once by the command line; French before).
    pub(crate) fn current() -> Lang {
        CURRENT.get().copied().unwrap_or(Lang::Fr)
    }

    /// Chooses the language for this run.
    pub(crate) fn set_current(lang: Lang) {
        let _ = CURRENT.set(lang);
    }

    /// The order in which per-language text is shown: this language first, then the other,
    /// then Arabic.
    pub(crate) fn preference(self) -> [&'static str; 4] {
        match self {
            Lang::Fr => ["fr", "en", "ar", "latin"],
            Lang::En => ["en", "fr", "ar", "latin"],
        }
    }
}

/// The message `key` in the current language.
pub(crate) fn t(key: &str) -> &'static str {
    text(Lang::current(), key)
}

/// The message `key` in `lang`; the key itself when the table lacks it.
pub(crate) fn text(lang: Lang, key: &str) -> &'static str {
    match MESSAGES.iter().find(|(k, _, _)| *k == key) {
        Some((_, fr, en)) => match lang {
            Lang::Fr => fr,
            Lang::En => en,
        },
        None => leak_key(key),
    }
}

fn leak_key(key: &str) -> &'static str {
    // Only reached by a programming error (a key missing from the table), which the unit
    // test below catches; leaking one short string then is harmless.
    Box::leak(key.to_owned().into_boxed_str())
}

/// The message `key` in the current language with `{0}`, `{1}`… replaced by `args`.
pub(crate) fn fill(key: &str, args: &[&dyn std::fmt::Display]) -> String {
    let mut out = t(key).to_owned();
    for (i, arg) in args.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), &arg.to_string());
    }
    out
}

/// Every message: key, French, English.
const MESSAGES: &[(&str, &str, &str)] = &[
    // Saving and creating.
    (
        "saved",
        "enregistré sur cet ordinateur ; partira à la prochaine synchronisation",
        "saved locally; will sync when the server is reachable",
    ),
    ("created", "créé : {0} {1}", "created: {0} {1}"),
    ("added", "ajouté à {0} : {1}", "added to {0}: {1}"),
    ("updated", "modifié : {0}", "updated: {0}"),
    (
        "published",
        "publié sur la page publique : {0}",
        "published on the public page: {0}",
    ),
    (
        "unpublished",
        "retiré de la page publique : {0}",
        "withdrawn from the public page: {0}",
    ),
    (
        "nothing_to_change",
        "rien à modifier : donnez au moins une option (--status, --title…)",
        "nothing to change: give at least one option (--status, --title…)",
    ),
    // Errors.
    (
        "err_no_replica",
        "pas de réplique dans {0} ; lancez d'abord `passerelle init --server URL --token JETON`, ou donnez --home DOSSIER",
        "there is no replica at {0}; run `passerelle init --server URL --token TOKEN` first, or pass --home DIR",
    ),
    (
        "err_bad_id",
        "{0} : « {1} » n'est pas un identifiant de document",
        "{0}: `{1}` is not a document id",
    ),
    (
        "err_no_doc",
        "{0} : aucun document {1} ici",
        "{0}: no document {1} here",
    ),
    (
        "err_wrong_type",
        "{0} : le document {1} est un(e) {2}, pas un(e) {3}",
        "{0}: document {1} is a {2}, not a {3}",
    ),
    (
        "err_not_model",
        "le document {0} n'est pas un document du programme ({1})",
        "document {0} is not a programme document ({1})",
    ),
    (
        "err_invalid",
        "{0} : « {1} » refusé ; attendu : {2}",
        "{0}: `{1}` refused; expected: {2}",
    ),
    (
        "err_empty",
        "{0} : ne peut pas être vide",
        "{0}: must not be empty",
    ),
    ("err_field", "{0} : {1}", "{0}: {1}"),
    ("err_missing", "{0} : manquant", "{0}: missing"),
    (
        "err_no_item",
        "{0} : élément introuvable",
        "{0}: no such item",
    ),
    (
        "err_no_field",
        "{0} : ce champ n'existe pas",
        "{0}: no such field",
    ),
    (
        "err_no_conflict",
        "{0} : aucun conflit à résoudre (utilisez `passerelle edit` pour changer la valeur)",
        "{0}: no conflict to resolve (use `passerelle edit` to change the value)",
    ),
    (
        "err_not_author",
        "{0} : seul son auteur, {1}, peut modifier cette entrée",
        "{0}: only its author, {1}, may edit this entry",
    ),
    (
        "err_ambiguous",
        "{0} : « {1} » désigne plusieurs éléments ({2}) ; donnez l'identifiant",
        "{0}: `{1}` names several items ({2}); give the id",
    ),
    (
        "err_several_journals",
        "--journal : cette réplique tient plusieurs journaux ({0}) ; choisissez-en un",
        "--journal: this replica holds several journals ({0}); choose one",
    ),
    (
        "err_several_results",
        "--result : le cadre logique a plusieurs résultats ({0}) ; choisissez-en un",
        "--result: the logframe has several results ({0}); choose one",
    ),
    (
        "err_duplicate_news",
        "news.url : cette actualité est déjà là, document {0}",
        "news.url: this news item is already here, document {0}",
    ),
    (
        "err_duration",
        "--due-within : « {0} » refusé ; attendu : un nombre de jours comme 30d, ou de semaines comme 4w",
        "--due-within: `{0}` refused; expected: a number of days like 30d, or weeks like 4w",
    ),
    (
        "err_no_budget",
        "{0} : le projet n'a pas encore de ligne budgétaire ; ajoutez-en une avec passerelle project budget add",
        "{0}: the project has no budget line yet; add one with passerelle project budget add",
    ),
    (
        "err_several_lines",
        "{0} : le budget a plusieurs lignes ({1}) ; choisissez-en une avec --line",
        "{0}: the budget has several lines ({1}); choose one with --line",
    ),
    (
        "err_log_order",
        "{0} : les entrées de ce journal sont rangées par date ; elles ne se déplacent pas",
        "{0}: the entries of this log are ordered by time; they cannot be moved",
    ),
    (
        "err_other_list",
        "{0} : {1} n'est pas dans la même liste ({2})",
        "{0}: {1} is not in the same list ({2})",
    ),
    (
        "err_item_used",
        "{0} : encore utilisé par {1} ; retirez-les d'abord",
        "{0}: still used by {1}; remove those first",
    ),
    // What values look like.
    (
        "exp_money",
        "un montant et sa devise, comme 1250 EUR ou 1250.50 MAD (EUR ou MAD, pas négatif)",
        "an amount and its currency, like 1250 EUR or 1250.50 MAD (EUR or MAD, not negative)",
    ),
    (
        "exp_item",
        "l'identifiant d'un élément, tel que show l'affiche entre crochets",
        "an item's id, as show prints it in brackets",
    ),
    (
        "exp_other_item",
        "un autre élément que celui qu'on déplace",
        "another item than the one being moved",
    ),
    (
        "exp_date",
        "une date AAAA-MM-JJ, comme 2026-05-12",
        "a date YYYY-MM-DD, like 2026-05-12",
    ),
    (
        "exp_when",
        "une date et une heure, comme 2026-05-12T09:30 ou 2026-05-12T09:30[Europe/Paris] (fuseaux : Europe/Paris, Africa/Casablanca, UTC)",
        "a date and time, like 2026-05-12T09:30 or 2026-05-12T09:30[Europe/Paris] (zones: Europe/Paris, Africa/Casablanca, UTC)",
    ),
    ("exp_one_of", "l'un de : {0}", "one of: {0}"),
    (
        "exp_number",
        "un nombre comme 12 ou 0.75",
        "a number like 12 or 0.75",
    ),
    (
        "exp_period",
        "une période comme 2026, 2026-S1, 2026-Q3 ou 2026-05",
        "a period like 2026, 2026-S1, 2026-Q3 or 2026-05",
    ),
    (
        "exp_url",
        "une adresse http:// ou https://",
        "an http:// or https:// URL",
    ),
    ("exp_line", "une ligne de texte", "one line of text"),
    // Document types.
    ("type_project", "projet", "project"),
    ("type_mission", "mission", "mission"),
    ("type_journal", "journal", "journal"),
    ("type_actor", "acteur", "actor"),
    ("type_funding_call", "appel à projets", "call for proposals"),
    ("type_news_item", "actualité", "news item"),
    // Field labels of `show`.
    ("f_code", "code", "code"),
    ("f_title", "titre", "title"),
    ("f_status", "statut", "status"),
    ("f_dates", "dates", "dates"),
    ("f_theme", "thème", "theme"),
    ("f_lead", "chef de file", "lead"),
    ("f_partners", "partenaires", "partners"),
    ("f_context", "contexte", "context"),
    ("f_logframe", "cadre logique", "logframe"),
    ("f_indicator", "indicateur", "indicator"),
    ("f_baseline", "base", "baseline"),
    ("f_target", "cible", "target"),
    ("f_measures", "mesures", "measurements"),
    ("f_budget", "budget prévu", "planned budget"),
    ("f_spent", "dépensé", "spent"),
    ("f_direction", "sens", "direction"),
    ("f_purpose", "objet", "purpose"),
    ("f_delegation", "délégation", "delegation"),
    ("f_agenda", "programme", "agenda"),
    ("f_actions", "actions de suivi", "follow-up actions"),
    ("f_owner", "responsable", "owner"),
    ("f_due", "échéance", "due"),
    ("f_outcomes", "résultats", "outcomes"),
    ("f_conflicts", "conflits à résoudre", "conflicts to resolve"),
    ("f_resolutions", "conflits résolus", "resolved conflicts"),
    ("f_none", "aucun", "none"),
    ("f_planned", "prévu", "planned"),
    ("f_cofinancing", "cofinancement", "co-financing"),
    ("f_expenses", "dépenses", "expenses"),
    ("f_meetings", "réunions", "meetings"),
    ("f_minutes", "compte rendu", "minutes"),
    ("f_decisions", "décisions", "decisions"),
    ("f_logistics", "logistique", "logistics"),
    ("f_cost", "coût", "cost"),
    ("f_cost_total", "coût total", "total cost"),
    ("f_projects", "projets liés", "linked projects"),
    ("f_kind", "nature", "kind"),
    ("f_parent", "organisation", "organisation"),
    ("f_basis", "base légale", "legal basis"),
    ("f_last_contact", "dernier contact", "last contact"),
    ("f_themes", "thèmes", "themes"),
    ("f_contacts", "contacts", "contacts"),
    ("f_notes", "notes", "notes"),
    ("ref_erased", "{0} (effacé)", "{0} (erased)"),
    ("moved", "déplacé : {0}", "moved: {0}"),
    ("removed", "retiré : {0}", "removed: {0}"),
    (
        "erase_needs_yes",
        "{0} ({1}) n'est pas effacé sans --yes hors d'un terminal",
        "refusing to erase {0} ({1}) without --yes when not on a terminal",
    ),
    (
        "erase_confirm",
        "Effacer {0} ({1}) pour de bon, historique compris, sur le serveur et sur chaque réplique ? Tapez `oui` pour confirmer : ",
        "Erase {0} ({1}) for good, its history included, on the server and on every replica? Type `yes` to confirm: ",
    ),
    (
        "erase_not_confirmed",
        "pas de confirmation ; rien n'a été effacé",
        "not confirmed; nothing was erased",
    ),
    (
        "erase_no_server",
        "impossible d'effacer {0} sans le serveur : cette réplique n'a pas de serveur (`passerelle init --server URL --token T`) ; rien n'a été effacé",
        "cannot erase {0} without the server: this replica has no server configured (`passerelle init --server URL --token T`); nothing was erased",
    ),
    (
        "erase_unreachable",
        "impossible d'effacer {0} sans le serveur : {1} ; rien n'a été effacé (l'effacement doit atteindre le serveur, sinon les autres répliques le garderaient)",
        "cannot erase {0} without the server: {1}; nothing was erased (erasure must reach the server, or the other replicas would keep it)",
    ),
    (
        "erase_failed",
        "{0} n'a pas été effacé : {1}",
        "{0} was not erased: {1}",
    ),
    (
        "erase_done",
        "{0} effacé sur le serveur ({1} clés, par {2} le {3}) et ici ({4} clés) ; les autres répliques effacent leur copie à leur prochaine synchronisation",
        "erased {0} on the server ({1} keys, by {2} at {3}) and here ({4} keys); other replicas delete their copies at their next sync",
    ),
    (
        "erase_done_here",
        "{0} effacé ici ({1} clés) ; le serveur ne l'a jamais reçu",
        "erased {0} here ({1} keys); the server never received it",
    ),
    (
        "erase_no_mentions",
        "aucun autre document de cette réplique ne le mentionne",
        "no other document of this replica mentions it",
    ),
    (
        "erase_mentions",
        "encore mentionné dans {0} document(s) de cette réplique ; son identifiant y est affiché « (effacé) », mais un nom écrit dans un champ est une donnée personnelle à revoir :",
        "still mentioned in {0} document(s) of this replica; its id shows there as \"(erased)\", but a name written in a field is personal data to review:",
    ),
    ("lille_to_oujda", "Lille → Oujda", "Lille → Oujda"),
    ("oujda_to_lille", "Oujda → Lille", "Oujda → Lille"),
    ("done_mark", "fait", "done"),
    ("nothing", "rien", "nothing"),
    // Lists.
    (
        "list_empty",
        "aucun document de ce type dans cette réplique",
        "no document of this type in this replica",
    ),
    (
        "found_none",
        "aucun acteur ne correspond",
        "no actor matches",
    ),
    (
        "journal_created",
        "nouveau journal créé : {0}",
        "new journal created: {0}",
    ),
    ("entry_by", "{0}, {1}", "{0}, {1}"),
    ("deadline", "date limite {0}", "deadline {0}"),
    ("days_left", "dans {0} jour(s)", "in {0} day(s)"),
    (
        "days_late",
        "passée depuis {0} jour(s)",
        "passed {0} day(s) ago",
    ),
    // Conflicts.
    (
        "conflicts_none",
        "aucun conflit : chaque champ a une seule valeur",
        "no conflicts: every field holds one value",
    ),
    (
        "conflict_value",
        "  {0}  (par {1}, {2})",
        "  {0}  (by {1}, {2})",
    ),
    ("conflict_shown", "affichée", "shown"),
    (
        "conflict_hint",
        "  pour choisir : passerelle resolve {0} {1} VALEUR",
        "  to choose: passerelle resolve {0} {1} VALUE",
    ),
    (
        "resolved",
        "résolu : {0} = {1} (remplace {2}) ; la résolution est enregistrée dans le document",
        "resolved: {0} = {1} (replaces {2}); the resolution is recorded in the document",
    ),
    // Today.
    ("today_title", "Aujourd'hui, {0} ({1})", "Today, {0} ({1})"),
    (
        "today_missions",
        "Missions des {0} prochaines semaines",
        "Missions in the next {0} weeks",
    ),
    (
        "today_calls",
        "Appels à projets qui ferment bientôt",
        "Calls for proposals closing soon",
    ),
    (
        "today_overdue",
        "Actions de suivi en retard",
        "Overdue follow-up actions",
    ),
    (
        "today_conflicts",
        "Conflits à résoudre",
        "Conflicts to resolve",
    ),
    (
        "today_pending",
        "Modifications pas encore synchronisées",
        "Changes not yet synced",
    ),
    ("today_none", "  rien", "  nothing"),
    (
        "today_pending_line",
        "  {0}  {1}  {2} modification(s) en attente",
        "  {0}  {1}  {2} change(s) pending",
    ),
    (
        "today_refused_line",
        "  {0}  {1}  refusé par le serveur : {2}",
        "  {0}  {1}  refused by the server: {2}",
    ),
    (
        "today_overdue_line",
        "  {0}  (échéance {1}, {2})  mission {3}",
        "  {0}  (due {1}, {2})  mission {3}",
    ),
    (
        "today_conflict_line",
        "  {0}  {1}  {2} : {3} valeurs",
        "  {0}  {1}  {2}: {3} values",
    ),
    ("today_starts", "du {0} au {1}", "from {0} to {1}"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_choose_the_language_and_french_is_the_default() {
        assert_eq!(Lang::from_locale("fr_FR.UTF-8"), Some(Lang::Fr));
        assert_eq!(Lang::from_locale("en_GB.UTF-8"), Some(Lang::En));
        assert_eq!(Lang::from_locale("en"), Some(Lang::En));
        assert_eq!(Lang::from_locale("C"), None);
        assert_eq!(Lang::from_locale("POSIX"), None);
        assert_eq!(Lang::from_locale("ar_MA.UTF-8"), None);
        assert_eq!(Lang::detect(Some(Lang::En)), Lang::En);
    }

    #[test]
    fn every_key_is_unique_and_every_message_has_both_languages() {
        let mut keys: Vec<&str> = MESSAGES.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "a key is listed twice");
        for (key, fr, en) in MESSAGES {
            assert!(!fr.is_empty() && !en.is_empty(), "{key}");
            let count = |s: &str| s.matches('{').count();
            assert_eq!(count(fr), count(en), "{key}: placeholders differ");
        }
    }

    #[test]
    fn every_key_used_in_the_source_is_in_the_table() {
        let sources = [
            include_str!("programme/mod.rs"),
            include_str!("programme/project.rs"),
            include_str!("programme/mission.rs"),
            include_str!("programme/journal.rs"),
            include_str!("programme/directory.rs"),
            include_str!("programme/conflicts.rs"),
            include_str!("programme/items.rs"),
            include_str!("programme/erase.rs"),
            include_str!("today.rs"),
        ];
        for source in sources {
            for call in ["t(\"", "fill(\""] {
                for (at, _) in source.match_indices(call) {
                    // `expect("…")` is not `t("…")`: the call's name must start a word.
                    let before = source[..at].chars().next_back();
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let key = source[at + call.len()..].split('"').next().unwrap();
                    assert!(
                        MESSAGES.iter().any(|(k, _, _)| *k == key),
                        "message key `{key}` is not in the table"
                    );
                }
            }
        }
    }
}
