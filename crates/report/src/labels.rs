//! The words of reports, French and English, in one table of keys (as the CLI's `lang.rs`
//! does): section headings, column headings, sentences, and the words of statuses.

use std::fmt::Display;

use passerelle_model::Money;

/// The language of a report's labels. The documents' own text stays as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Français (the programme's language, the default).
    #[default]
    Fr,
    /// English.
    En,
}

impl Lang {
    /// `fr` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The order in which per-language text is chosen: this language, the other, Arabic.
    pub fn preference(self) -> [&'static str; 3] {
        match self {
            Lang::Fr => ["fr", "en", "ar"],
            Lang::En => ["en", "fr", "ar"],
        }
    }

    /// The label `key`; the key itself when the table lacks it (a test checks none does).
    pub fn label(self, key: &str) -> &'static str {
        match LABELS.iter().find(|(k, _, _)| *k == key) {
            Some((_, fr, en)) => match self {
                Lang::Fr => fr,
                Lang::En => en,
            },
            None => "??",
        }
    }

    /// The label `key` with `{0}`, `{1}`… replaced by `args`.
    pub fn fill(self, key: &str, args: &[&dyn Display]) -> String {
        let mut out = self.label(key).to_owned();
        for (i, arg) in args.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), &arg.to_string());
        }
        out
    }

    /// A stored word (a status, a level, a direction) in this language; unknown words as
    /// they are.
    pub fn word(self, word: &str) -> String {
        let key = format!("w_{word}");
        match LABELS.iter().find(|(k, _, _)| *k == key) {
            Some((_, fr, en)) => match self {
                Lang::Fr => (*fr).to_owned(),
                Lang::En => (*en).to_owned(),
            },
            None => word.to_owned(),
        }
    }

    /// An amount as people of this language write it: `12 000,00 EUR`, `12,000.00 EUR`.
    pub fn money(self, money: Money) -> String {
        let sign = if money.cents < 0 { "-" } else { "" };
        let abs = money.cents.unsigned_abs();
        let units = (abs / 100).to_string();
        let (group, decimal) = match self {
            Lang::Fr => ('\u{202f}', ','),
            Lang::En => (',', '.'),
        };
        let mut grouped = String::new();
        for (i, digit) in units.chars().enumerate() {
            if i > 0 && (units.len() - i).is_multiple_of(3) {
                grouped.push(group);
            }
            grouped.push(digit);
        }
        format!(
            "{sign}{grouped}{decimal}{:02} {}",
            abs % 100,
            money.currency.code()
        )
    }
}

/// Every label: key, French, English.
pub(crate) const LABELS: &[(&str, &str, &str)] = &[
    ("periodic_title", "Rapport périodique", "Periodic report"),
    ("mission_title", "Compte rendu de mission", "Mission report"),
    // Sections of the periodic report.
    (
        "s_identification",
        "Identification et période",
        "Identification and period",
    ),
    ("s_summary", "Résumé", "Summary"),
    ("s_context", "Contexte et évolutions", "Context and changes"),
    (
        "s_activities",
        "Activités réalisées et prévues",
        "Activities done and planned",
    ),
    ("s_logframe", "Cadre logique", "Logical framework"),
    (
        "s_partners",
        "Partenaires et acteurs",
        "Partners and stakeholders",
    ),
    (
        "s_difficulties",
        "Difficultés et risques",
        "Difficulties and risks",
    ),
    ("s_lessons", "Enseignements", "Lessons learned"),
    (
        "s_communication",
        "Communication et visibilité",
        "Communication and visibility",
    ),
    ("s_finances", "Finances", "Finances"),
    (
        "s_next",
        "Programmation de la période suivante",
        "Plan for the next period",
    ),
    (
        "s_annexes",
        "Annexes : comptes rendus de mission",
        "Annexes: mission reports",
    ),
    // Fields.
    ("f_code", "Code", "Code"),
    ("f_title", "Titre", "Title"),
    ("f_status", "Statut", "Status"),
    ("f_theme", "Thème", "Theme"),
    ("f_project_dates", "Dates du projet", "Project dates"),
    ("f_lead", "Chef de file", "Lead"),
    ("f_period", "Période couverte", "Period covered"),
    ("f_version", "Version", "Version"),
    ("f_dates", "Dates", "Dates"),
    ("f_document", "Document", "Document"),
    (
        "submitted_version",
        "soumis le {0} par {1} (rapport {2}), figé à cette date",
        "submitted on {0} by {1} (report {2}), frozen as of then",
    ),
    (
        "draft_version",
        "document de travail, non soumis (état actuel des documents)",
        "working draft, not submitted (the documents as they are now)",
    ),
    // Sentences.
    ("objectives", "Objectifs :", "Objectives:"),
    (
        "sum_missions",
        "Missions de la période : {0} réalisée(s) sur {1}.",
        "Missions of the period: {0} done of {1}.",
    ),
    (
        "sum_indicators",
        "Indicateurs mesurés pour la période : {0} sur {1}.",
        "Indicators measured for the period: {0} of {1}.",
    ),
    (
        "sum_spent",
        "Dépenses de la période : {0}.",
        "Spending in the period: {0}.",
    ),
    (
        "sum_no_spending",
        "Aucune dépense enregistrée pour la période.",
        "No spending recorded for the period.",
    ),
    (
        "planned_activities",
        "Activités prévues au cadre logique :",
        "Activities planned in the logframe:",
    ),
    (
        "missions_done",
        "Missions de la période : {0} réalisée(s) sur {1}.",
        "Missions of the period: {0} done of {1}.",
    ),
    (
        "no_missions",
        "Aucune mission liée au projet pendant la période.",
        "No mission linked to the project in the period.",
    ),
    (
        "no_indicators",
        "Le cadre logique ne compte encore aucun indicateur.",
        "The logframe has no indicator yet.",
    ),
    ("not_measured", "non mesuré", "not measured"),
    (
        "no_partners",
        "Aucun partenaire enregistré.",
        "No partner recorded.",
    ),
    (
        "overdue_actions",
        "Actions de suivi en retard à la fin de la période :",
        "Follow-up actions overdue at the end of the period:",
    ),
    (
        "news_of_period",
        "Dans la presse pendant la période :",
        "In the news during the period:",
    ),
    (
        "currencies_apart",
        "Les montants en EUR et en MAD sont présentés séparément et ne sont jamais additionnés : aucun taux de change n'est appliqué.",
        "Amounts in EUR and MAD are shown apart and never added together: no exchange rate is applied.",
    ),
    (
        "no_budget",
        "Aucune ligne budgétaire ni dépense enregistrée.",
        "No budget line or expense recorded.",
    ),
    (
        "by_heading",
        "Budget et dépenses par rubrique",
        "Budget and spending by heading",
    ),
    (
        "by_funder",
        "Cofinancements par bailleur",
        "Co-financing by funder",
    ),
    ("s_points", "Points à vérifier", "Points to check"),
    (
        "points_note",
        "Ce que les règles des bailleurs ou le cadre logique demandent et que les documents ne montrent pas encore ; à vérifier avant l'envoi.",
        "What funders' rules or the logframe ask for and the documents do not show yet; to check before sending.",
    ),
    (
        "point_monitoring",
        "{0} cofinance le projet et demande au moins {1} % du budget pour le suivi et l'évaluation : les lignes de suivi ou d'évaluation font {2} du budget prévu ({3} sur {4}).",
        "{0} co-finances the project and asks for at least {1} % of the budget on monitoring and evaluation: monitoring or evaluation lines are {2} of the planned budget ({3} of {4}).",
    ),
    (
        "point_no_baseline",
        "L'indicateur « {0} » n'a pas de valeur de référence.",
        "Indicator \"{0}\" has no baseline.",
    ),
    (
        "point_no_target",
        "L'indicateur « {0} » n'a pas de cible.",
        "Indicator \"{0}\" has no target.",
    ),
    (
        "point_not_measured",
        "L'indicateur « {0} » n'a aucune valeur mesurée jusqu'à la fin de {1}.",
        "Indicator \"{0}\" has no value measured up to the end of {1}.",
    ),
    (
        "funder_rule",
        "Les dépenses d'une ligne budgétaire sont attribuées à ses cofinanceurs au prorata de leurs parts dans la devise de la dépense, quel que soit le statut de la part, rapportées au plus grand du montant prévu de la ligne et du total de ses parts ; la part non couverte par un cofinancement reste « non attribuée » (arrondi au centime, les parts faisant exactement la dépense de la ligne).",
        "A budget line's spending is attributed to its co-financers pro rata of their shares in the spending's currency, whatever a share's status, over the larger of the line's planned amount and the total of its shares; the part no co-financing covers stays \"unattributed\" (to the cent, the parts adding up exactly to the line's spending).",
    ),
    (
        "no_cofinancing",
        "Aucun cofinancement enregistré.",
        "No co-financing recorded.",
    ),
    ("next_missions", "Missions prévues :", "Missions planned:"),
    (
        "actions_due_next",
        "Actions de suivi à échéance :",
        "Follow-up actions falling due:",
    ),
    (
        "journal_entries",
        "Extraits du journal de terrain :",
        "From the field journal:",
    ),
    ("annex", "Annexe {0} : ", "Annex {0}: "),
    (
        "nothing",
        "Rien à signaler pour cette période.",
        "Nothing to report for this period.",
    ),
    ("total", "Total", "Total"),
    // Mission report.
    ("m_identification", "Mission", "Mission"),
    ("m_delegation", "Délégation", "Delegation"),
    ("m_agenda", "Programme tel que réalisé", "Agenda as held"),
    (
        "m_meetings",
        "Réunions et comptes rendus",
        "Meetings and minutes",
    ),
    ("m_outcomes", "Résultats de la mission", "Outcomes"),
    ("m_actions", "Actions de suivi", "Follow-up actions"),
    ("purpose", "Objet :", "Purpose:"),
    ("minutes", "Compte rendu :", "Minutes:"),
    ("decisions", "Décisions :", "Decisions:"),
    ("no_minutes", "Pas de compte rendu.", "No minutes."),
    (
        "no_decisions",
        "Aucune décision consignée.",
        "No decision recorded.",
    ),
    // Column headings.
    ("h_level", "Niveau", "Level"),
    ("h_result", "Résultat", "Result"),
    ("h_indicator", "Indicateur", "Indicator"),
    ("h_baseline", "Valeur de référence", "Baseline"),
    ("h_target", "Cible", "Target"),
    ("h_current", "Valeur actuelle", "Current value"),
    ("h_source", "Source", "Source"),
    ("h_role", "Rôle", "Role"),
    ("h_name", "Nom", "Name"),
    ("h_type", "Type", "Type"),
    ("h_date", "Date", "Date"),
    ("h_title", "Titre", "Title"),
    ("h_mission", "Mission", "Mission"),
    ("h_direction", "Sens", "Direction"),
    ("h_start", "Début", "Start"),
    ("h_end", "Fin", "End"),
    ("h_status", "Statut", "Status"),
    ("h_heading", "Rubrique", "Heading"),
    ("h_label", "Libellé", "Label"),
    ("h_payee", "Bénéficiaire", "Payee"),
    ("h_amount", "Montant", "Amount"),
    ("h_currency", "Devise", "Currency"),
    ("h_planned", "Prévu", "Planned"),
    ("h_spent_period", "Dépensé (période)", "Spent (period)"),
    ("h_spent_to_date", "Dépensé (cumul)", "Spent (to date)"),
    ("h_percent", "% consommé", "% spent"),
    ("h_funder", "Bailleur", "Funder"),
    ("h_requested", "Demandé", "Requested"),
    ("h_granted", "Accordé", "Granted"),
    ("h_received", "Reçu", "Received"),
    (
        "h_funder_planned",
        "Prévu (total des parts)",
        "Planned (all shares)",
    ),
    ("unattributed", "Non attribué", "Unattributed"),
    ("h_action", "Action", "Action"),
    ("h_owner", "Responsable", "Owner"),
    ("h_due", "Échéance", "Due"),
    ("h_person", "Personne", "Person"),
    ("h_organisation", "Organisation", "Organisation"),
    ("h_arrival", "Arrivée", "Arrival"),
    ("h_departure", "Départ", "Departure"),
    ("h_when", "Quand", "When"),
    ("h_place", "Lieu", "Place"),
    ("h_participants", "Participants", "Participants"),
    ("h_notes", "Notes", "Notes"),
    ("h_attendees", "Présents", "Attendees"),
    ("h_unit", "Unité", "Unit"),
    ("h_period", "Période", "Period"),
    // Workbook sheets (at most 31 characters, no `/\?*[]:`).
    ("sheet_logframe", "Cadre logique", "Logframe"),
    ("sheet_budget", "Budget par rubrique", "Budget by heading"),
    ("sheet_funders", "Cofinancements", "Co-financing"),
    ("sheet_expenses", "Dépenses", "Expenses"),
    ("sheet_missions", "Missions", "Missions"),
    // Roles.
    ("role_lead", "chef de file", "lead"),
    ("role_partner", "partenaire", "partner"),
    // Stored words.
    ("w_idea", "idée", "idea"),
    ("w_applying", "candidature", "applying"),
    ("w_approved", "approuvé", "approved"),
    ("w_ongoing", "en cours", "ongoing"),
    ("w_closed", "clos", "closed"),
    ("w_suspended", "suspendu", "suspended"),
    ("w_impact", "impact", "impact"),
    ("w_outcome", "effet", "outcome"),
    ("w_output", "produit", "output"),
    ("w_activity", "activité", "activity"),
    ("w_lille_to_oujda", "Lille → Oujda", "Lille → Oujda"),
    ("w_oujda_to_lille", "Oujda → Lille", "Oujda → Lille"),
    ("w_draft", "brouillon", "draft"),
    ("w_planned", "prévue", "planned"),
    ("w_confirmed", "confirmée", "confirmed"),
    ("w_done", "réalisée", "done"),
    ("w_cancelled", "annulée", "cancelled"),
    ("w_open", "ouverte", "open"),
    ("w_dropped", "abandonnée", "dropped"),
    ("w_commune", "commune", "commune"),
    ("w_wilaya", "wilaya", "wilaya"),
    ("w_university", "université", "university"),
    ("w_association", "association", "association"),
    ("w_business", "entreprise", "business"),
    ("w_funder", "bailleur", "funder"),
    ("w_media", "média", "media"),
    ("w_training", "organisme de formation", "training body"),
    ("w_cultural", "acteur culturel", "cultural actor"),
    ("w_institution", "institution", "institution"),
    ("w_other", "autre", "other"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_model::Currency;

    #[test]
    fn every_key_is_once_in_the_table_and_every_label_is_said_in_both_languages() {
        for (i, (key, fr, en)) in LABELS.iter().enumerate() {
            assert!(!fr.is_empty() && !en.is_empty(), "{key}");
            assert!(
                LABELS[i + 1..].iter().all(|(k, _, _)| k != key),
                "{key} twice"
            );
        }
    }

    #[test]
    fn amounts_are_grouped_as_each_language_writes_them() {
        let m = Money::new(123_456_789, Currency::Mad);
        assert_eq!(Lang::En.money(m), "1,234,567.89 MAD");
        assert_eq!(Lang::Fr.money(m), "1\u{202f}234\u{202f}567,89 MAD");
        assert_eq!(Lang::En.money(Money::new(-5, Currency::Eur)), "-0.05 EUR");
    }
}
