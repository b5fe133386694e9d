//! [`Lang`]: the pages' languages (French by default, English, Arabic written right to
//! left) and their labels, one table of keys.

/// A language of the pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    /// French, the default.
    #[default]
    Fr,
    /// English.
    En,
    /// Arabic, laid out right to left.
    Ar,
}

impl Lang {
    /// Every language, in the order of the language switch.
    pub const ALL: [Lang; 3] = [Lang::Fr, Lang::Ar, Lang::En];

    /// The language's code (`fr`, `en`, `ar`), also the `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
            Lang::Ar => "ar",
        }
    }

    /// A code read from a cookie or a link; unknown codes are `None`.
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            "ar" => Some(Lang::Ar),
            _ => None,
        }
    }

    /// The writing direction, for the `dir` attribute.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            Lang::Fr | Lang::En => "ltr",
        }
    }

    /// The language's own name, for the switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Fr => "Français",
            Lang::En => "English",
            Lang::Ar => "العربية",
        }
    }

    /// The order in which per-language texts are looked for (a title missing in this
    /// language is shown in the next).
    pub fn preference(self) -> [&'static str; 3] {
        match self {
            Lang::Fr => ["fr", "en", "ar"],
            Lang::En => ["en", "fr", "ar"],
            Lang::Ar => ["ar", "fr", "en"],
        }
    }

    /// A stored word of a fixed set (a status, a level, a relevance: `draft`, `done`,
    /// `outcome`…) in this language; a word the table lacks is shown as stored. Every page
    /// shows such words through this one function.
    pub fn status(self, word: &str) -> &str {
        match STATUS_WORDS.iter().find(|(w, ..)| *w == word) {
            Some((_, fr, en, ar)) => match self {
                Lang::Fr => fr,
                Lang::En => en,
                Lang::Ar => ar,
            },
            None => word,
        }
    }

    /// The label `key` in this language; the key itself when the table lacks it (a test
    /// checks that every key used has all three).
    pub fn t(self, key: &str) -> &'static str {
        let Some((_, fr, en, ar)) = LABELS.iter().find(|(k, ..)| *k == key) else {
            return "?";
        };
        match self {
            Lang::Fr => fr,
            Lang::En => en,
            Lang::Ar => ar,
        }
    }
}

/// key, French, English, Arabic.
const LABELS: &[(&str, &str, &str, &str)] = &[
    ("app", "Passerelle", "Passerelle", "باسرال"),
    ("dashboard", "Tableau de bord", "Dashboard", "لوحة المتابعة"),
    ("sign_in", "Se connecter", "Sign in", "تسجيل الدخول"),
    ("sign_out", "Se déconnecter", "Sign out", "تسجيل الخروج"),
    ("token", "Jeton d'accès", "Access token", "رمز الدخول"),
    (
        "sign_in_help",
        "Collez le jeton que l'administrateur vous a remis.",
        "Paste the token your administrator gave you.",
        "الصق الرمز الذي سلّمه لك المسؤول.",
    ),
    (
        "sign_in_failed",
        "Jeton inconnu ou révoqué.",
        "Unknown or revoked token.",
        "رمز غير معروف أو ملغى.",
    ),
    ("online", "En ligne", "Online", "متصل"),
    ("offline", "Hors ligne", "Offline", "غير متصل"),
    ("connecting", "Connexion…", "Connecting…", "جارٍ الاتصال…"),
    ("server", "Serveur", "Server", "الخادم"),
    (
        "unsynced",
        "modifications pas encore sur le serveur",
        "changes not yet on the server",
        "تعديلات لم تصل إلى الخادم بعد",
    ),
    ("last_sync", "dernière synchro", "last sync", "آخر مزامنة"),
    (
        "coming_missions",
        "Missions à venir ou en cours",
        "Coming and current missions",
        "البعثات القادمة والجارية",
    ),
    (
        "calls_closing",
        "Appels à projets qui ferment bientôt",
        "Calls closing soon",
        "طلبات مشاريع تنتهي قريبًا",
    ),
    (
        "overdue_actions",
        "Actions en retard",
        "Overdue actions",
        "إجراءات متأخرة",
    ),
    (
        "conflicts",
        "Conflits à trancher",
        "Conflicts to resolve",
        "تعارضات يجب حسمها",
    ),
    ("documents", "Documents", "Documents", "الوثائق"),
    ("none", "Rien.", "Nothing.", "لا شيء."),
    ("mission", "Mission", "Mission", "بعثة"),
    ("project", "Projet", "Project", "مشروع"),
    (
        "journal",
        "Journal de terrain",
        "Field journal",
        "يومية ميدانية",
    ),
    ("actor", "Acteur", "Actor", "فاعل"),
    (
        "funding_call",
        "Appel à projets",
        "Call for proposals",
        "طلب مشاريع",
    ),
    ("news_item", "Actualité", "News", "خبر"),
    ("status", "Statut", "Status", "الحالة"),
    ("dates", "Dates", "Dates", "التواريخ"),
    ("direction", "Sens", "Direction", "الاتجاه"),
    ("purpose", "Objet", "Purpose", "الغرض"),
    ("delegation", "Délégation", "Delegation", "الوفد"),
    ("agenda", "Programme", "Agenda", "جدول الأعمال"),
    ("meetings", "Réunions", "Meetings", "الاجتماعات"),
    ("minutes", "Compte rendu", "Minutes", "محضر الاجتماع"),
    ("decisions", "Décisions", "Decisions", "القرارات"),
    ("logistics", "Logistique", "Logistics", "اللوجستيك"),
    ("outcomes", "Résultats", "Outcomes", "النتائج"),
    (
        "actions",
        "Actions de suivi",
        "Follow-up actions",
        "إجراءات المتابعة",
    ),
    ("person", "Personne", "Person", "الشخص"),
    ("organisation", "Organisme", "Organisation", "الهيئة"),
    ("role", "Rôle", "Role", "الدور"),
    ("visa", "Visa", "Visa", "التأشيرة"),
    ("when", "Quand", "When", "متى"),
    ("place", "Lieu", "Place", "المكان"),
    ("title", "Titre", "Title", "العنوان"),
    ("notes", "Notes", "Notes", "ملاحظات"),
    ("attendees", "Participants", "Attendees", "الحاضرون"),
    ("details", "Détails", "Details", "التفاصيل"),
    ("cost", "Coût", "Cost", "التكلفة"),
    ("text", "Action", "Action", "الإجراء"),
    ("owner", "Responsable", "Owner", "المسؤول"),
    ("due", "Échéance", "Due", "الأجل"),
    ("mark_done", "Fait", "Done", "تم"),
    ("add", "Ajouter", "Add", "إضافة"),
    (
        "add_agenda_item",
        "Ajouter au programme",
        "Add to the agenda",
        "إضافة إلى جدول الأعمال",
    ),
    (
        "add_meeting",
        "Ajouter une réunion",
        "Add a meeting",
        "إضافة اجتماع",
    ),
    (
        "add_action",
        "Ajouter une action",
        "Add an action",
        "إضافة إجراء",
    ),
    ("saved", "Enregistré", "Saved", "تم الحفظ"),
    ("saving", "Enregistrement…", "Saving…", "جارٍ الحفظ…"),
    ("save_failed", "Non enregistré", "Not saved", "لم يتم الحفظ"),
    (
        "read_only",
        "Lecture seule : vos modifications ne sont pas acceptées.",
        "Read-only: your changes are not accepted.",
        "قراءة فقط: تعديلاتك غير مقبولة.",
    ),
    (
        "not_found",
        "Document introuvable.",
        "No such document.",
        "الوثيقة غير موجودة.",
    ),
    (
        "unreadable",
        "Ce document ne peut pas être lu",
        "This document cannot be read",
        "لا يمكن قراءة هذه الوثيقة",
    ),
    ("back", "Retour", "Back", "رجوع"),
    // The public page, history, recent changes, reports (pages/public, history, reports).
    (
        "public_page",
        "Page publique",
        "Public page",
        "الصفحة العامة",
    ),
    (
        "public_intro",
        "Les projets et les missions que le programme de coopération Lille–Oujda rend publics.",
        "The projects and missions the Lille–Oujda cooperation programme makes public.",
        "المشاريع والبعثات التي ينشرها برنامج التعاون بين ليل ووجدة.",
    ),
    (
        "public_none",
        "Rien n'est publié pour l'instant.",
        "Nothing is published yet.",
        "لم يُنشر شيء بعد.",
    ),
    (
        "publish",
        "Publier sur la page publique",
        "Publish on the public page",
        "النشر في الصفحة العامة",
    ),
    ("projects", "Projets", "Projects", "المشاريع"),
    ("missions", "Missions", "Missions", "البعثات"),
    ("partners", "Partenaires", "Partners", "الشركاء"),
    ("objectives", "Objectifs", "Objectives", "الأهداف"),
    ("history", "Historique", "History", "السجل"),
    ("history_of", "Historique de", "History of", "سجل"),
    ("who", "Qui", "Who", "من"),
    ("change", "Modification", "Change", "تعديل"),
    ("ops", "opérations", "operations", "عمليات"),
    ("you", "vous", "you", "أنت"),
    ("unknown", "inconnu", "unknown", "غير معروف"),
    (
        "recent_changes",
        "Modifications récentes",
        "Recent changes",
        "آخر التعديلات",
    ),
    ("reports", "Rapports", "Reports", "التقارير"),
    (
        "periodic_report",
        "Rapport périodique",
        "Periodic report",
        "التقرير الدوري",
    ),
    (
        "mission_report",
        "Rapport de mission",
        "Mission report",
        "تقرير البعثة",
    ),
    ("period", "Période", "Period", "الفترة"),
    ("formats", "Formats", "Formats", "الصيغ"),
    (
        "too_many_live",
        "Trop de pages ouvertes en direct ; fermez-en une et rechargez.",
        "Too many live pages open; close one and reload.",
        "صفحات مباشرة مفتوحة كثيرة؛ أغلق إحداها وأعد التحميل.",
    ),
    ("values", "valeurs", "values", "قيم"),
    (
        "keep",
        "Garder la valeur de",
        "Keep the value of",
        "الإبقاء على قيمة",
    ),
    ("starts", "du", "from", "من"),
    ("until", "au", "to", "إلى"),
    ("deadline", "Date limite", "Deadline", "آخر أجل"),
    ("funder", "Bailleur", "Funder", "المموّل"),
    ("language", "Langue", "Language", "اللغة"),
    // The programme's pages (issue 7).
    ("code", "Code", "Code", "الرمز"),
    ("theme", "Thème", "Theme", "المحور"),
    ("lead", "Chef de file", "Lead", "الجهة الرائدة"),
    ("context", "Contexte", "Context", "السياق"),
    ("objective", "Objectif", "Objective", "الهدف"),
    ("logframe", "Cadre logique", "Logframe", "الإطار المنطقي"),
    ("statement", "Énoncé", "Statement", "الصياغة"),
    ("indicator", "Indicateur", "Indicator", "المؤشر"),
    (
        "baseline",
        "Situation de départ",
        "Baseline",
        "القيمة المرجعية",
    ),
    ("target", "Cible", "Target", "القيمة المستهدفة"),
    (
        "current_value",
        "Valeur actuelle",
        "Current value",
        "القيمة الحالية",
    ),
    ("progress", "Avancement", "Progress", "التقدّم"),
    ("no_target", "pas de cible", "no target", "لا قيمة مستهدفة"),
    ("new_value", "Nouvelle valeur", "New value", "قيمة جديدة"),
    ("record", "Enregistrer", "Record", "تسجيل"),
    ("budget", "Budget", "Budget", "الميزانية"),
    ("heading", "Rubrique", "Heading", "البند"),
    ("label", "Libellé", "Label", "الوصف"),
    ("planned", "Prévu", "Planned", "المبلغ المبرمج"),
    (
        "planned_by_heading",
        "Prévu par rubrique (euros et dirhams jamais additionnés)",
        "Planned by heading (euros and dirhams never added together)",
        "المبرمج حسب البند (لا يُجمع اليورو والدرهم أبدًا)",
    ),
    ("total", "Total", "Total", "المجموع"),
    (
        "lessons",
        "Enseignements",
        "Lessons learned",
        "الدروس المستخلصة",
    ),
    ("erased", "effacé", "erased", "محذوف"),
    ("source", "Source", "Source", "المصدر"),
    (
        "no_journal",
        "Aucun journal ici : le premier se crée avec « passerelle journal add ».",
        "No journal here: the first one is made with `passerelle journal add`.",
        "لا توجد يومية هنا: تُنشأ الأولى بالأمر passerelle journal add.",
    ),
    ("new_entry", "Nouvelle entrée", "New entry", "تدوينة جديدة"),
    (
        "add_entry",
        "Ajouter au journal",
        "Add to the journal",
        "إضافة إلى اليومية",
    ),
    (
        "entry_text",
        "Texte de l'entrée",
        "Entry text",
        "نص التدوينة",
    ),
    (
        "actors",
        "Annuaire des acteurs",
        "Actor directory",
        "دليل الفاعلين",
    ),
    ("search", "Chercher", "Search", "بحث"),
    (
        "search_actors",
        "Nom, organisme, ville, thème…",
        "Name, organisation, city, theme…",
        "الاسم، الهيئة، المدينة، المحور…",
    ),
    ("name", "Nom", "Name", "الاسم"),
    ("category", "Catégorie", "Category", "الفئة"),
    (
        "parent",
        "Organisme parent",
        "Parent organisation",
        "الهيئة الأم",
    ),
    ("themes", "Thèmes", "Themes", "المحاور"),
    (
        "last_contact",
        "Dernier contact",
        "Last contact",
        "آخر اتصال",
    ),
    ("contacts", "Coordonnées", "Contacts", "وسائل الاتصال"),
    ("cat_commune", "Commune", "Municipality", "جماعة"),
    ("cat_wilaya", "Wilaya", "Wilaya", "ولاية"),
    ("cat_university", "Université", "University", "جامعة"),
    ("cat_association", "Association", "Association", "جمعية"),
    ("cat_business", "Entreprise", "Business", "مقاولة"),
    ("cat_funder", "Bailleur", "Funder", "مموّل"),
    ("cat_media", "Média", "Media", "وسيلة إعلام"),
    (
        "cat_training",
        "Organisme de formation",
        "Training body",
        "هيئة تكوين",
    ),
    (
        "cat_cultural",
        "Acteur culturel",
        "Cultural actor",
        "فاعل ثقافي",
    ),
    ("cat_institution", "Institution", "Institution", "مؤسسة"),
    ("cat_other", "Autre", "Other", "أخرى"),
    (
        "calls",
        "Appels à projets",
        "Calls for proposals",
        "طلبات المشاريع",
    ),
    (
        "open_calls",
        "Ouverts, par date limite",
        "Open, by deadline",
        "المفتوحة، حسب آخر أجل",
    ),
    (
        "closed_calls",
        "Clos ou déposés",
        "Closed or submitted",
        "المغلقة أو المودعة",
    ),
    ("no_deadline", "sans date limite", "no deadline", "بدون أجل"),
    ("today", "aujourd'hui", "today", "اليوم"),
    ("days_left", "jours restants", "days left", "يومًا متبقية"),
    ("past", "passé", "past", "انقضى"),
    ("scheme", "Dispositif", "Scheme", "الآلية"),
    ("opens", "Ouverture", "Opens", "الافتتاح"),
    ("amounts", "Montants", "Amounts", "المبالغ"),
    ("own_share", "Part propre", "Own share", "المساهمة الذاتية"),
    ("link", "Lien", "Link", "الرابط"),
    ("eligibility", "Éligibilité", "Eligibility", "شروط الأهلية"),
    ("checklist", "Critères", "Checklist", "المعايير"),
    (
        "deliverables",
        "Pièces à produire",
        "Documents to produce",
        "الوثائق المطلوبة",
    ),
    ("draft_text", "Brouillon", "Draft", "المسودة"),
    ("news", "Actualités", "News", "الأخبار"),
    (
        "read_article",
        "Lire l'article",
        "Read the article",
        "قراءة المقال",
    ),
    ("summary", "Résumé", "Summary", "الملخص"),
    ("relevance", "Pertinence", "Relevance", "الأهمية"),
    ("tags", "Mots-clés", "Tags", "الوسوم"),
    ("date", "Date", "Date", "التاريخ"),
];

/// Stored word (statuses of every document type, logframe levels, relevance), French,
/// English, Arabic.
const STATUS_WORDS: &[(&str, &str, &str, &str)] = &[
    // Projects.
    ("idea", "idée", "idea", "فكرة"),
    ("applying", "candidature", "applying", "قيد الترشيح"),
    ("approved", "approuvé", "approved", "مصادق عليه"),
    ("ongoing", "en cours", "ongoing", "جارٍ"),
    ("closed", "clos", "closed", "مغلق"),
    ("suspended", "suspendu", "suspended", "معلّق"),
    // Missions and follow-up actions.
    ("draft", "brouillon", "draft", "مسودة"),
    ("planned", "prévue", "planned", "مبرمجة"),
    ("confirmed", "confirmée", "confirmed", "مؤكدة"),
    ("done", "fait", "done", "منجز"),
    ("cancelled", "annulé", "cancelled", "ملغى"),
    ("open", "à faire", "open", "مفتوح"),
    ("dropped", "abandonné", "dropped", "متروك"),
    // Logistics, visas, co-financing.
    ("to_book", "à réserver", "to book", "للحجز"),
    ("booked", "réservé", "booked", "محجوز"),
    ("paid", "payé", "paid", "مدفوع"),
    ("not_needed", "pas nécessaire", "not needed", "غير ضروري"),
    ("to_apply", "à demander", "to apply for", "للطلب"),
    ("applied", "demandé", "applied for", "مطلوب"),
    ("granted", "accordé", "granted", "ممنوح"),
    ("refused", "refusé", "refused", "مرفوض"),
    ("requested", "demandé", "requested", "مطلوب"),
    ("received", "reçu", "received", "مستلم"),
    // Calls for proposals.
    ("watching", "en veille", "watching", "قيد المتابعة"),
    ("go", "on y va", "go", "نشارك"),
    ("drafting", "en rédaction", "drafting", "قيد التحرير"),
    ("submitted", "déposé", "submitted", "مُودَع"),
    ("won", "gagné", "won", "مقبول"),
    ("lost", "perdu", "lost", "مرفوض"),
    ("withdrawn", "retiré", "withdrawn", "مسحوب"),
    // Reports.
    ("review", "en relecture", "in review", "قيد المراجعة"),
    // Logframe levels.
    ("impact", "impact", "impact", "الأثر"),
    ("outcome", "effet", "outcome", "النتيجة المتوسطة"),
    ("output", "produit", "output", "المُخرَج"),
    ("activity", "activité", "activity", "النشاط"),
    // News relevance.
    ("low", "faible", "low", "ضعيفة"),
    ("medium", "moyenne", "medium", "متوسطة"),
    ("high", "forte", "high", "عالية"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_has_three_nonempty_texts_and_keys_are_unique() {
        let mut keys = std::collections::HashSet::new();
        for (key, fr, en, ar) in LABELS {
            assert!(keys.insert(key), "duplicate key {key}");
            assert!(!fr.is_empty() && !en.is_empty() && !ar.is_empty(), "{key}");
        }
        assert_eq!(Lang::Ar.t("agenda"), "جدول الأعمال");
        assert_eq!(Lang::Fr.t("no-such-key"), "?");
    }

    #[test]
    fn every_label_the_programme_pages_use_is_in_the_table() {
        let sources = [
            include_str!("pages/project.rs"),
            include_str!("pages/journal.rs"),
            include_str!("pages/actor.rs"),
            include_str!("pages/call.rs"),
            include_str!("pages/news.rs"),
            include_str!("pages/layout.rs"),
            include_str!("programme.rs"),
        ];
        let mut checked = 0;
        for source in sources {
            for (at, _) in source.match_indices("t(\"") {
                let rest = &source[at + 3..];
                let key = &rest[..rest.find('"').unwrap()];
                assert!(
                    LABELS.iter().any(|(k, ..)| *k == key),
                    "label `{key}` is used but not in the table"
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "{checked}");
    }

    #[test]
    fn every_status_word_of_the_model_is_translated() {
        use passerelle_model::{
            ActionStatus, CallStatus, CofinancingStatus, Level, LogisticsStatus, MissionStatus,
            ProjectStatus, Relevance, VisaStatus,
        };
        let mut words = std::collections::HashSet::new();
        for (word, fr, en, ar) in STATUS_WORDS {
            assert!(words.insert(word), "duplicate word {word}");
            assert!(!fr.is_empty() && !en.is_empty() && !ar.is_empty(), "{word}");
        }
        let all = [
            ProjectStatus::ALL,
            MissionStatus::ALL,
            ActionStatus::ALL,
            LogisticsStatus::ALL,
            VisaStatus::ALL,
            CofinancingStatus::ALL,
            CallStatus::ALL,
            Level::ALL,
            Relevance::ALL,
        ];
        for word in all.concat() {
            assert!(words.contains(&word), "`{word}` has no translation");
        }
        assert_eq!(Lang::Fr.status("confirmed"), "confirmée");
        assert_eq!(Lang::Ar.status("done"), "منجز");
        assert_eq!(Lang::En.status("to_book"), "to book");
        assert_eq!(Lang::Fr.status("not-a-status"), "not-a-status");
    }

    #[test]
    fn codes_round_trip_and_arabic_is_right_to_left() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Lang::from_code("de"), None);
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::default(), Lang::Fr);
    }
}
