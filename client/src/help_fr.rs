//! `--help` in French: the command tree clap derives from `cli.rs` (and `programme/`) speaks
//! English; when the language is French, every command's `about`, every argument's `help` and
//! clap's own words ("Usage", "Options", "Print help"…) are replaced before parsing.
//!
//! The language is decided before clap parses: `--lang X` or `--lang=X` in the arguments,
//! else the locale, by the same rule as the rest of the programme ([`Lang::detect`]).
//!
//! The French texts live in [`FR`], keyed by the command's path (`""` for `passerelle` itself,
//! `"project new"`…) and the argument's id (`""` for the command's own text). A unit test walks
//! the whole tree and fails on any text without a French entry, so a new verb cannot silently
//! stay English. Clap's error messages for bad arguments stay in English (clap has no hook to
//! translate them short of re-rendering every error kind).

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command, CommandFactory as _, ValueEnum as _};

use crate::cli::Cli;
use crate::lang::Lang;

/// The language of this run, as `passerelle ARGS…` asks for it: the last `--lang X` or
/// `--lang=X` before any `--`, else the locale. An unknown value is ignored here (clap then
/// refuses it).
pub(crate) fn lang_from_args(args: impl IntoIterator<Item = OsString>) -> Lang {
    let mut flag = None;
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--" {
            break;
        }
        let value = if arg == "--lang" {
            args.next().and_then(|value| value.into_string().ok())
        } else {
            arg.strip_prefix("--lang=").map(str::to_owned)
        };
        if let Some(lang) = value.and_then(|value| Lang::from_str(&value, true).ok()) {
            flag = Some(lang);
        }
    }
    Lang::detect(flag)
}

/// The command tree to parse with, its help in `lang`.
pub(crate) fn command(lang: Lang) -> Command {
    let cmd = Cli::command();
    match lang {
        Lang::En => cmd,
        Lang::Fr => {
            let mut cmd = translate(cmd, "");
            // Building adds clap's own parts (`--help`, `--version`, the `help` command) and
            // copies the global options down the tree; they are translated after.
            cmd.build();
            clap_words(cmd)
        }
    }
}

/// The French text of a command (`id` empty) or of one of its arguments.
fn french(path: &str, id: &str) -> Option<&'static str> {
    FR.iter()
        .find(|(p, i, _)| *p == path && *i == id)
        .map(|(_, _, text)| *text)
}

/// Replaces the texts of `cmd` (at `path`) and of everything under it with their French.
fn translate(cmd: Command, path: &str) -> Command {
    let mut cmd = cmd;
    if let Some(text) = french(path, "") {
        cmd = match text.split_once("\n\n") {
            Some((summary, _)) => cmd.about(summary).long_about(text),
            None => cmd.about(text).long_about(None),
        };
    }
    cmd = cmd.mut_args(|arg| {
        let id = arg.get_id().as_str().to_owned();
        match french(path, &id) {
            Some(text) => match text.split_once("\n\n") {
                Some((summary, _)) => arg.help(summary).long_help(text),
                None => arg.help(text).long_help(None),
            },
            None => arg,
        }
    });
    cmd.mut_subcommands(|sub| {
        let sub_path = match path {
            "" => sub.get_name().to_owned(),
            _ => format!("{path} {}", sub.get_name()),
        };
        translate(sub, &sub_path)
    })
}

/// Clap's own words, in French, on a built tree: headings, the usage line, `--help`,
/// `--version`, the `help` command, and the `[default: …]`-style notes after an argument.
fn clap_words(cmd: Command) -> Command {
    let usage = *cmd.get_styles().get_usage();
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{}Utilisation :{} {{usage}}\n\n{{all-args}}{{after-help}}",
        usage.render(),
        usage.render_reset()
    );
    let cmd = if cmd.get_name() == "help" {
        cmd.about(HELP_COMMAND)
    } else {
        cmd
    };
    cmd.help_template(template)
        // Clap adds the colon; French puts a space before it.
        .subcommand_help_heading("Commandes ")
        .subcommand_value_name("COMMANDE")
        .mut_args(french_arg)
        .mut_subcommands(clap_words)
}

/// "Print this message or the help of the given subcommand(s)".
const HELP_COMMAND: &str = "Afficher ce message, ou l'aide des sous-commandes données";

fn french_arg(arg: Arg) -> Arg {
    let mut arg = match arg.get_action() {
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong => {
            let english = arg.get_help().map(ToString::to_string).unwrap_or_default();
            if english.contains("see more") {
                arg.help("Afficher l'aide (le détail avec « --help »)")
                    .long_help("Afficher l'aide (un résumé avec « -h »)")
            } else {
                arg.help("Afficher l'aide")
            }
        }
        ArgAction::Version => arg.help("Afficher la version"),
        _ => arg,
    };
    if arg.get_id() == "subcommand" && arg.get_help().is_some() {
        // The `help` command's argument (when clap builds it without the tree under it).
        arg = arg.help("Afficher l'aide de ces sous-commandes");
    }
    if arg.get_help_heading().is_none() {
        let heading = if arg.is_positional() {
            "Arguments "
        } else {
            "Options "
        };
        arg = arg.help_heading(heading);
        if let Some(index) = arg.get_index() {
            // Under a named heading clap sorts by display order, then by name: keep the
            // positionals in the order they are typed.
            arg = arg.display_order(index);
        }
    }
    notes(arg)
}

/// Clap writes `[env: …]`, `[default: …]` and `[possible values: …]` in English after an
/// argument's help; the French help says them itself.
fn notes(arg: Arg) -> Arg {
    let mut notes = Vec::new();
    if let Some(env) = arg.get_env()
        && !arg.is_hide_env_set()
    {
        notes.push(format!(
            "[variable d'environnement : {}]",
            env.to_string_lossy()
        ));
    }
    let takes_values = arg.get_action().takes_values();
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|value| value.to_string_lossy().into_owned())
        .collect();
    if takes_values && !defaults.is_empty() && !arg.is_hide_default_value_set() {
        notes.push(format!("[par défaut : {}]", defaults.join(" ")));
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| value.get_name().to_owned())
        .collect();
    if takes_values && !values.is_empty() && !arg.is_hide_possible_values_set() {
        notes.push(format!("[valeurs possibles : {}]", values.join(", ")));
    }
    if notes.is_empty() {
        return arg;
    }
    let notes = notes.join(" ");
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    let long = arg.get_long_help().map(ToString::to_string);
    let arg = arg
        .hide_env(true)
        .hide_default_value(true)
        .hide_possible_values(true)
        .help(format!("{help} {notes}").trim().to_owned());
    match long {
        Some(long) => arg.long_help(format!("{long}\n\n{notes}")),
        None => arg,
    }
}

/// Texts several arguments share.
const DOC_ID: &str = "L'identifiant du document (ou son URL automerge:)";
const DOC: &str = "L'identifiant du document";
const JSON: &str = "Afficher en JSON";
const PROJECT: &str = "L'identifiant ou le code du projet";
const MISSION: &str = "L'identifiant de la mission";
const ACTOR: &str = "L'identifiant du document de l'acteur";
const TITLE_FR: &str = "Le titre en français";
const TITLE_AR: &str = "Le titre en arabe";
const TITLE_EN: &str = "Le titre en anglais";
const CURRENCY: &str = "EUR ou MAD";
const LINE: &str = "La ligne budgétaire : son identifiant ou sa rubrique ; nécessaire quand le budget en a plusieurs";
const ITEM: &str = "L'identifiant de l'élément (tel que `show` l'affiche entre crochets)";
const OUTPUT: &str = "Écrire dans ce fichier plutôt que sur la sortie standard";

/// Every French text: command path (`""` for `passerelle`), argument id (`""` for the
/// command itself), text. Two paragraphs: the first is the summary `-h` shows.
#[rustfmt::skip]
const FR: &[(&str, &str, &str)] = &[
    ("", "", "Le client passerelle : une réplique de vos documents, qui marche hors ligne"),
    ("", "home", "Le dossier de la réplique [par défaut : $XDG_DATA_HOME/passerelle, ou ~/.local/share/passerelle]"),
    ("", "lang", "La langue des commandes du programme : fr ou en [par défaut : selon LC_ALL, LC_MESSAGES ou LANG ; le français s'ils ne disent ni l'un ni l'autre]"),
    ("init", "", "Préparer la réplique et le serveur avec lequel elle se synchronise. Marche hors ligne : rien n'est contacté"),
    ("init", "server", "L'URL de base du serveur, par exemple `https://sync.example.org`"),
    ("init", "token", "Votre jeton d'accès, tel que l'administrateur du serveur vous l'a donné"),
    ("init", "user", "Votre nom d'utilisateur sur le serveur, enregistré avec vos modifications des documents du programme [par défaut : PASSERELLE_USER, sinon votre nom de connexion]"),
    ("new", "", "Créer un document à partir d'un objet JSON ; affiche son identifiant en dernière ligne"),
    ("new", "json", "Le fichier JSON, ou `-` pour l'entrée standard"),
    ("set", "", "Changer un champ ou un élément de liste, par exemple `set DOC budget.0.planned 12000`"),
    ("set", "doc", DOC_ID),
    ("set", "path", "Le champ : clés et indices de liste séparés par des points, par exemple `title.fr`"),
    ("set", "value", "La nouvelle valeur, en JSON (un texte a besoin de guillemets : '\"Oujda\"')"),
    ("append", "", "Ajouter un élément à une liste, par exemple `append DOC agenda '{\"title\": \"Visite\"}'`"),
    ("append", "doc", DOC_ID),
    ("append", "path", "La liste : clés et indices de liste séparés par des points"),
    ("append", "value", "Le nouvel élément, en JSON"),
    ("show", "", "Afficher un document"),
    ("show", "doc", DOC_ID),
    ("show", "json", "Afficher le document en JSON"),
    ("docs", "", "Lister les documents de la réplique : identifiant, type et titre"),
    ("docs", "json", "Afficher la liste en JSON"),
    ("export", "", "Exporter un document ; ou, sous la forme `export csv COLLECTION`, toute une collection en CSV (projets, acteurs, appels ou actions) pour un tableur"),
    ("export", "doc", "L'identifiant du document (ou son URL automerge:), ou `csv`"),
    ("export", "collection", "Après `csv` : projects, actors, calls ou actions"),
    ("export", "format", "`automerge` (le format binaire que toute implémentation d'Automerge sait charger) ou `json`"),
    ("export", "output", OUTPUT),
    ("ui", "", "Les pages web sur cette réplique, sur 127.0.0.1 seulement, jusqu'à Ctrl-C ; continue de synchroniser en arrière-plan comme `watch`. Fonctionne hors ligne"),
    ("ui", "listen", "L'adresse de bouclage et le port d'écoute (port 0 : n'importe quel port libre)"),
    ("report", "", "Rapports : le rapport périodique à Lille (md, html, ou le classeur xlsx), les rapports de mission, et les rapports soumis, figés aux têtes des documents"),
    ("report periodic", "", "Le rapport périodique à Lille sur un projet (12 sections : identification, résumé, contexte, activités, cadre logique, partenaires, difficultés, enseignements, communication, finances, période suivante, rapports de mission en annexe)"),
    ("report periodic", "project", PROJECT),
    ("report periodic", "period", "La période : AAAA-QN (2026-Q3, trimestre), AAAA-SN (2026-S1, semestre) ou AAAA (2026)"),
    ("report periodic", "format", "md ou html (texte, sur la sortie standard par défaut), xlsx (le classeur financier) ou docx (Word) ; les formats binaires demandent --output ou une redirection"),
    ("report periodic", "output", OUTPUT),
    ("report periodic", "submitted", "La dernière version soumise, telle qu'elle a été soumise, quoi qu'on ait modifié depuis"),
    ("report mission", "", "Un rapport de mission : délégation, programme tel qu'il s'est tenu, comptes rendus, décisions, actions de suivi"),
    ("report mission", "mission", MISSION),
    ("report mission", "format", "md ou html"),
    ("report mission", "output", OUTPUT),
    ("report submit", "", "Soumettre un rapport périodique : il est figé en enregistrant les têtes de chaque document qu'il lit dans un document de rapport, qui se synchronise comme les autres. Affiche son identifiant"),
    ("report submit", "project", PROJECT),
    ("report submit", "period", "La période : AAAA-QN, AAAA-SN ou AAAA"),
    ("report show", "", "Régénérer un rapport soumis par son identifiant (tel que `report submit` l'a affiché)"),
    ("report show", "id", "L'identifiant du document de rapport"),
    ("report show", "format", "md, html, xlsx ou docx"),
    ("report show", "output", OUTPUT),
    ("status", "", "Le serveur (joignable ou non), la dernière synchronisation et, par document, les modifications que le serveur n'a pas encore confirmées et celles qu'il a refusées"),
    ("sync", "", "Envoyer les modifications locales au serveur et recevoir celles faites ailleurs, une fois"),
    ("sync", "batch_kib", "La taille de chaque requête en Kio (envoi et réception ensemble) : des requêtes plus petites aboutissent sur une liaison plus lente, et une connexion coupée coûte moins"),
    ("watch", "", "Rester synchronisé jusqu'à Ctrl-C : les modifications faites ailleurs arrivent au fil de l'eau, les modifications locales partent, et un serveur injoignable est réessayé avec des pauses de plus en plus longues"),
    ("history", "", "Qui a modifié un document et quand, tel que le serveur l'a enregistré (du plus ancien au plus récent), puis les modifications encore présentes dans cette seule réplique. Nécessite le serveur"),
    ("history", "doc", DOC_ID),
    ("history", "json", "Afficher l'historique en JSON"),
    ("share", "", "Montrer qui peut voir un document ou, avec --org ou --user et --access, changer ces droits (réservé aux administrateurs de l'organisation à qui appartient le document). Nécessite le serveur"),
    ("share", "doc", DOC_ID),
    ("share", "org", "Donner accès à tous les membres de cette organisation"),
    ("share", "user", "Donner accès à cet utilisateur"),
    ("share", "access", "`read` (lecture), `write` (écriture), ou `none` pour retirer l'accès"),
    ("demo", "", "Une visite guidée sur cet ordinateur : lance un serveur de synchronisation dans un dossier temporaire, et deux répliques, Oujda et Lille, qui modifient un même document hors ligne puis fusionnent. Nécessite le binaire `passerelle-server` à côté de celui-ci (ou PASSERELLE_SERVER_BIN)"),
    // The programme's documents.
    ("project", "", "Les projets : leur cadre logique, leurs indicateurs et leurs mesures"),
    ("project new", "", "Créer un projet ; affiche son identifiant en dernière ligne"),
    ("project new", "code", "Son code court, par exemple PAED-OUJDA (lettres, chiffres, `-`, `_`, `.`, `:`)"),
    ("project new", "title", TITLE_FR),
    ("project new", "title_ar", TITLE_AR),
    ("project new", "title_en", TITLE_EN),
    ("project new", "status", "idea, applying, approved, ongoing, closed ou suspended [par défaut : idea]"),
    ("project new", "start", "La date de début, AAAA-MM-JJ"),
    ("project new", "end", "La date de fin, AAAA-MM-JJ"),
    ("project new", "theme", "La thématique, par exemple « développement durable »"),
    ("project new", "partner", "Un partenaire (identifiant du document de l'acteur ou son nom court) ; à répéter pour en donner plusieurs"),
    ("project new", "lead", "Un acteur chef de file ; à répéter pour en donner plusieurs"),
    ("project list", "", "Lister les projets : identifiant, code, statut, titre"),
    ("project list", "json", JSON),
    ("project show", "", "Afficher un projet (par identifiant ou par code)"),
    ("project show", "project", PROJECT),
    ("project show", "json", JSON),
    ("project publish", "", "Publier un projet sur la page publique (titre, statut, dates, contexte, objectifs, noms des partenaires ; jamais le budget ni les contacts), ou l'en retirer avec --undo"),
    ("project publish", "project", PROJECT),
    ("project publish", "undo", "Le retirer de la page publique"),
    ("project edit", "", "Modifier les champs d'un projet"),
    ("project edit", "project", PROJECT),
    ("project edit", "title", TITLE_FR),
    ("project edit", "title_ar", TITLE_AR),
    ("project edit", "title_en", TITLE_EN),
    ("project edit", "status", "idea, applying, approved, ongoing, closed ou suspended"),
    ("project edit", "start", "La date de début, AAAA-MM-JJ"),
    ("project edit", "end", "La date de fin, AAAA-MM-JJ"),
    ("project edit", "theme", "La thématique"),
    ("project edit", "context", "Le contexte (un texte ; ce que d'autres y tapent en même temps est gardé)"),
    ("project edit", "lessons", "Les enseignements tirés (un texte)"),
    ("project edit", "add_partner", "Ajouter un partenaire ; à répéter pour en ajouter plusieurs"),
    ("project edit", "remove_partner", "Retirer un partenaire"),
    ("project result", "", "Les résultats du cadre logique"),
    ("project result add", "", "Ajouter un résultat au cadre logique ; affiche son identifiant"),
    ("project result add", "project", PROJECT),
    ("project result add", "statement", "L'énoncé du résultat"),
    ("project result add", "level", "impact, outcome, output ou activity"),
    ("project indicator", "", "Les indicateurs du cadre logique"),
    ("project indicator add", "", "Ajouter un indicateur à un résultat du cadre logique ; affiche son identifiant"),
    ("project indicator add", "project", PROJECT),
    ("project indicator add", "name", "Le nom de l'indicateur"),
    ("project indicator add", "result", "Le résultat qu'il mesure (son identifiant) ; nécessaire quand le cadre logique en a plusieurs. S'il n'en a aucun, un résultat `outcome` est créé pour lui"),
    ("project indicator add", "unit", "L'unité, par exemple « ménages »"),
    ("project indicator add", "baseline", "La valeur de référence"),
    ("project indicator add", "target", "La valeur cible"),
    ("project indicator add", "source", "La source de vérification"),
    ("project budget", "", "Les lignes budgétaires : ce qui est prévu, par rubrique"),
    ("project budget add", "", "Ajouter une ligne budgétaire avec son montant prévu ; affiche son identifiant"),
    ("project budget add", "project", PROJECT),
    ("project budget add", "heading", "La rubrique, par exemple « Personnel », « Missions », « Équipement »"),
    ("project budget add", "amount", "Le montant prévu, par exemple 12000 ou 12000.50"),
    ("project budget add", "currency", CURRENCY),
    ("project budget add", "label", "Un libellé qui en dit plus que la rubrique"),
    ("project cofinancing", "", "Les cofinancements : la part d'un financeur dans une ligne budgétaire"),
    ("project cofinancing add", "", "Ajouter la part d'un financeur dans une ligne budgétaire ; affiche son identifiant"),
    ("project cofinancing add", "project", PROJECT),
    ("project cofinancing add", "funder", "Qui la finance, par exemple AFD, « Région Hauts-de-France »"),
    ("project cofinancing add", "amount", "Le montant, par exemple 5000"),
    ("project cofinancing add", "currency", CURRENCY),
    ("project cofinancing add", "line", LINE),
    ("project cofinancing add", "status", "requested, granted ou received [par défaut : requested]"),
    ("project expense", "", "Les dépenses : l'argent dépensé sur une ligne budgétaire"),
    ("project expense add", "", "Enregistrer une dépense sur une ligne budgétaire ; affiche l'identifiant de la dépense"),
    ("project expense add", "project", PROJECT),
    ("project expense add", "amount", "Le montant, par exemple 350.20"),
    ("project expense add", "currency", CURRENCY),
    ("project expense add", "line", LINE),
    ("project expense add", "date", "La date de la dépense, AAAA-MM-JJ [par défaut : aujourd'hui]"),
    ("project expense add", "payee", "Qui a été payé"),
    ("project measure", "", "Enregistrer la valeur d'un indicateur pour une période ; affiche l'identifiant de la mesure"),
    ("project measure", "project", PROJECT),
    ("project measure", "indicator", "L'indicateur : son identifiant ou son nom"),
    ("project measure", "period", "La période, par exemple 2026-Q3, 2026-S1, 2026-05 ou 2026"),
    ("project measure", "value", "La valeur, par exemple 12 ou 0.75"),
    ("project measure", "source", "D'où vient la valeur"),
    ("mission", "", "Les missions : délégation, programme, actions de suivi"),
    ("mission new", "", "Préparer une mission (statut draft) ; affiche son identifiant en dernière ligne"),
    ("mission new", "direction", "lille-to-oujda ou oujda-to-lille"),
    ("mission new", "title", TITLE_FR),
    ("mission new", "title_ar", TITLE_AR),
    ("mission new", "title_en", TITLE_EN),
    ("mission new", "start", "Le premier jour, AAAA-MM-JJ"),
    ("mission new", "end", "Le dernier jour, AAAA-MM-JJ"),
    ("mission new", "purpose", "Son objet (un texte)"),
    ("mission new", "project", "Un projet lié (identifiant du document) ; à répéter pour en donner plusieurs"),
    ("mission list", "", "Lister les missions : identifiant, dates, statut, titre"),
    ("mission list", "json", JSON),
    ("mission show", "", "Afficher une mission"),
    ("mission show", "mission", MISSION),
    ("mission show", "json", JSON),
    ("mission publish", "", "Publier une mission sur la page publique (titre, statut, dates, sens, objet, noms des organisations partenaires ; jamais la délégation, les coûts ni les comptes rendus), ou l'en retirer avec --undo"),
    ("mission publish", "mission", MISSION),
    ("mission publish", "undo", "La retirer de la page publique"),
    ("mission edit", "", "Modifier les champs d'une mission"),
    ("mission edit", "mission", MISSION),
    ("mission edit", "title", TITLE_FR),
    ("mission edit", "title_ar", TITLE_AR),
    ("mission edit", "title_en", TITLE_EN),
    ("mission edit", "status", "draft, planned, confirmed, done ou cancelled"),
    ("mission edit", "start", "Le premier jour, AAAA-MM-JJ"),
    ("mission edit", "end", "Le dernier jour, AAAA-MM-JJ"),
    ("mission edit", "purpose", "Son objet (un texte ; ce que d'autres y tapent en même temps est gardé)"),
    ("mission edit", "outcomes", "Ses résultats (un texte)"),
    ("mission edit", "add_project", "Lier un projet (identifiant du document)"),
    ("mission agenda", "", "Le programme de la mission"),
    ("mission agenda add", "", "Ajouter un point au programme ; affiche son identifiant"),
    ("mission agenda add", "mission", MISSION),
    ("mission agenda add", "title", "Ce qui a lieu"),
    ("mission agenda add", "at", "Quand : 2026-05-12T09:30, dans le fuseau de --zone, ou avec son fuseau : 2026-05-12T09:30[Europe/Paris]"),
    ("mission agenda add", "zone", "Le fuseau horaire de --at [par défaut : celui de la destination : Africa/Casablanca pour Lille → Oujda, Europe/Paris pour Oujda → Lille]"),
    ("mission agenda add", "place", "Où"),
    ("mission delegation", "", "La délégation"),
    ("mission delegation add", "", "Ajouter un membre à la délégation ; affiche son identifiant"),
    ("mission delegation add", "mission", MISSION),
    ("mission delegation add", "person", "Le nom de la personne"),
    ("mission delegation add", "org", "Son organisation"),
    ("mission delegation add", "role", "Son rôle dans la mission"),
    ("mission delegation add", "arrival", "La date d'arrivée, AAAA-MM-JJ"),
    ("mission delegation add", "departure", "La date de départ, AAAA-MM-JJ"),
    ("mission action", "", "Les actions de suivi"),
    ("mission action add", "", "Ajouter une action de suivi ; affiche son identifiant"),
    ("mission action add", "mission", MISSION),
    ("mission action add", "text", "Ce qu'il faut faire"),
    ("mission action add", "owner", "Qui s'en charge"),
    ("mission action add", "due", "Pour quand, AAAA-MM-JJ"),
    ("mission action done", "", "Marquer une action de suivi comme faite"),
    ("mission action done", "mission", MISSION),
    ("mission action done", "action", "L'action : son identifiant, ou son texte"),
    ("mission meeting", "", "Les réunions et leurs comptes rendus"),
    ("mission meeting add", "", "Ajouter une réunion ; affiche son identifiant"),
    ("mission meeting add", "mission", MISSION),
    ("mission meeting add", "title", "La réunion, par exemple « Comité de pilotage »"),
    ("mission meeting add", "attendee", "Un participant ; à répéter pour en donner plusieurs"),
    ("mission meeting add", "minutes", "Le compte rendu (un texte)"),
    ("mission meeting add", "decisions", "Les décisions prises (un texte)"),
    ("mission meeting edit", "", "Modifier une réunion : son compte rendu et ses décisions sont des textes, donc ce que d'autres y tapent en même temps est gardé"),
    ("mission meeting edit", "mission", MISSION),
    ("mission meeting edit", "meeting", "La réunion : son identifiant, ou son titre"),
    ("mission meeting edit", "title", "Le nouveau titre"),
    ("mission meeting edit", "minutes", "Le compte rendu, en entier (seul ce qui diffère du texte actuel est écrit)"),
    ("mission meeting edit", "decisions", "Les décisions, en entier"),
    ("mission meeting edit", "add_attendee", "Ajouter un participant ; à répéter pour en ajouter plusieurs"),
    ("mission meeting edit", "remove_attendee", "Retirer un participant"),
    ("mission logistics", "", "La logistique : vols, hôtels, véhicules, interprètes, indemnités journalières"),
    ("mission logistics add", "", "Ajouter une ligne de logistique (statut to-book) ; affiche son identifiant"),
    ("mission logistics add", "mission", MISSION),
    ("mission logistics add", "kind", "flight (vol), hotel, vehicle (véhicule), interpreter (interprète) ou per-diem (indemnité journalière)"),
    ("mission logistics add", "details", "Les détails, par exemple « Lille-Oujda via Paris, 12 mai, AT 781 »"),
    ("mission logistics add", "cost", "Ce que cela coûte : un montant et EUR ou MAD, par exemple `--cost 1200 MAD`"),
    ("mission logistics add", "status", "to-book, booked, paid ou cancelled [par défaut : to-book]"),
    ("journal", "", "Le journal de terrain"),
    ("journal add", "", "Écrire une entrée (par vous, maintenant) ; affiche l'identifiant de l'entrée, puis celui du journal en dernière ligne"),
    ("journal add", "text", "L'entrée"),
    ("journal add", "mission", "La mission dont elle parle (identifiant du document)"),
    ("journal add", "project", "Le projet dont elle parle (identifiant du document)"),
    ("journal add", "tag", "Une étiquette ; à répéter pour en donner plusieurs"),
    ("journal add", "place", "Où elle a été écrite"),
    ("journal add", "journal", "Le journal (identifiant du document), quand la réplique en tient plusieurs"),
    ("journal list", "", "Lister les entrées, de la plus ancienne à la plus récente"),
    ("journal list", "mission", "Seulement les entrées sur cette mission"),
    ("journal list", "tag", "Seulement les entrées portant cette étiquette"),
    ("journal list", "json", JSON),
    ("journal edit", "", "Réécrire une de vos entrées (ce que d'autres y tapent en même temps est gardé)"),
    ("journal edit", "entry", "L'identifiant de l'entrée"),
    ("journal edit", "text", "Son nouveau texte"),
    ("actor", "", "L'annuaire des acteurs locaux (personnes et organisations)"),
    ("actor add", "", "Ajouter une personne ou une organisation à l'annuaire ; affiche son identifiant en dernière ligne. La fiche d'une personne demande --basis : à quel titre elle est conservée"),
    ("actor add", "name", "Le nom (en alphabet latin pour une personne, en français pour une organisation)"),
    ("actor add", "person", "Une personne (par défaut : une organisation)"),
    ("actor add", "name_ar", "Le nom en alphabet arabe"),
    ("actor add", "category", "commune, wilaya, university (université), association, business (entreprise), funder (financeur), media (média), training (formation), cultural (culture), institution ou other (autre)"),
    ("actor add", "basis", "Pourquoi la fiche d'une personne est conservée : consent (consentement), legitimate-interest (intérêt légitime), public-role (fonction publique) ou contract (contrat)"),
    ("actor add", "parent", "L'organisation dont elle fait partie (identifiant du document de l'acteur)"),
    ("actor add", "email", "Une adresse électronique"),
    ("actor add", "phone", "Un numéro de téléphone"),
    ("actor add", "theme", "Une thématique ; à répéter pour en donner plusieurs"),
    ("actor add", "owner", "Qui, dans le programme, suit la relation"),
    ("actor add", "notes", "Des notes (un texte)"),
    ("actor find", "", "Trouver les acteurs dont le nom, un contact, une thématique ou la catégorie contient TEXT (sans tenir compte de la casse)"),
    ("actor find", "text", "Ce qu'il faut chercher"),
    ("actor find", "json", JSON),
    ("actor show", "", "Afficher un acteur : noms, nature, base légale, contacts (avec leurs identifiants), thématiques, notes"),
    ("actor show", "actor", ACTOR),
    ("actor show", "json", JSON),
    ("actor contact", "", "Les moyens de joindre un acteur"),
    ("actor contact add", "", "Ajouter un moyen de joindre un acteur ; affiche son identifiant. (`passerelle remove ACTEUR ID` en retire un.)"),
    ("actor contact add", "actor", ACTOR),
    ("actor contact add", "kind", "email, phone (téléphone), address (adresse), web ou other (autre)"),
    ("actor contact add", "value", "L'adresse, le numéro ou l'URL"),
    ("actor contact add", "label", "Ce que c'est, par exemple « bureau », « portable »"),
    ("actor export", "", "Tout ce qui est conservé sur un acteur, en JSON : la fiche, toutes les valeurs qu'elle a eues (tout son historique), ce que le serveur a enregistré de qui a écrit quoi (s'il est joignable), et les documents qui le mentionnent. Marche hors ligne avec ce que tient cette réplique"),
    ("actor export", "actor", ACTOR),
    ("actor export", "output", OUTPUT),
    ("actor erase", "", "Effacer un acteur pour de bon, historique compris : sur le serveur (nécessaire), ici, et sur chaque autre réplique à sa prochaine synchronisation. Demande confirmation dans un terminal"),
    ("actor erase", "actor", ACTOR),
    ("actor erase", "yes", "Ne pas demander (obligatoire hors d'un terminal)"),
    ("call", "", "Les appels à projets et leurs dates limites"),
    ("call add", "", "Ajouter un appel à projets (statut watching) ; affiche son identifiant en dernière ligne"),
    ("call add", "title", "Le titre de l'appel"),
    ("call add", "funder", "Qui le finance, par exemple AFD, « UE », « MEAE »"),
    ("call add", "deadline", "La date limite, AAAA-MM-JJ"),
    ("call add", "url", "Sa page web"),
    ("call add", "scheme", "Le dispositif de financement"),
    ("call add", "project", "Le projet qu'il financerait (identifiant du document)"),
    ("call list", "", "Lister les appels, la date limite la plus proche d'abord"),
    ("call list", "due_within", "Seulement les appels ouverts dont la date limite tombe dans ce nombre de jours (`30d`) ou de semaines (`4w`), ou est déjà passée"),
    ("call list", "json", JSON),
    ("news", "", "La veille d'actualités"),
    ("news add", "", "Ajouter une actualité (son URL est sa clé : la même URL deux fois est refusée) ; affiche son identifiant en dernière ligne"),
    ("news add", "url", "L'URL de l'article"),
    ("news add", "title", "Son titre"),
    ("news add", "language", "fr, ar, en ou other (autre) [par défaut : fr]"),
    ("news add", "date", "Sa date, AAAA-MM-JJ"),
    ("news add", "source", "La source, par exemple « Le360 », « Oujda City »"),
    ("news add", "summary", "Un résumé (un texte)"),
    ("news add", "tag", "Une étiquette ; à répéter pour en donner plusieurs"),
    ("news list", "", "Lister les actualités, la plus récente d'abord"),
    ("news list", "json", JSON),
    ("edit", "", "Changer un champ d'un document du programme : un texte (fusionné avec ce que d'autres tapent), une valeur simple (un statut, une date, un montant) ou un titre dans une langue, par exemple `edit DOC status confirmed`, `edit DOC title.ar \"…\"`, `edit DOC 'actions[ID].due' 2026-06-01`"),
    ("edit", "doc", DOC),
    ("edit", "field", "Le champ, par exemple `status`, `title.fr`, `agenda[ID].notes`"),
    ("edit", "value", "La nouvelle valeur"),
    ("move", "", "Déplacer un élément de liste (un point du programme, une action, une ligne budgétaire…) avant ou après un autre élément de sa liste, ou en premier ou en dernier. Seule sa place change : une modification faite ailleurs dans l'élément entre-temps est gardée"),
    ("move", "doc", DOC),
    ("move", "item", ITEM),
    ("move", "before", "Le placer juste avant cet élément (son identifiant)"),
    ("move", "after", "Le placer juste après cet élément (son identifiant)"),
    ("move", "first", "Le placer en premier"),
    ("move", "last", "Le placer en dernier"),
    ("remove", "", "Retirer un élément de liste (un point du programme, une action, un contact, une ligne budgétaire…) par son identifiant"),
    ("remove", "doc", DOC),
    ("remove", "item", ITEM),
    ("conflicts", "", "Lister les champs qui ont des valeurs concurrentes (posées par deux personnes en même temps), avec qui a posé chacune et quand ; d'un document, ou de tous"),
    ("conflicts", "doc", "Seulement ce document"),
    ("conflicts", "json", JSON),
    ("resolve", "", "Choisir la valeur d'un champ en conflit ; le choix et ce qu'il remplace sont enregistrés dans le document"),
    ("resolve", "doc", DOC),
    ("resolve", "field", "Le champ, tel que `passerelle conflicts` le nomme"),
    ("resolve", "value", "La valeur à garder (l'une des valeurs en conflit, ou une autre)"),
    ("today", "", "Ce qui demande attention : les missions des semaines à venir, les appels qui ferment bientôt, les actions de suivi en retard, les conflits à résoudre, les modifications pas encore synchronisées"),
    ("today", "weeks", "Combien de semaines à l'avance chercher des missions"),
    ("today", "days", "Combien de jours à l'avance chercher des dates limites d'appels"),
    ("today", "json", JSON),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and argument that has English text, as (path, id, English).
    fn english_texts() -> Vec<(String, String, String)> {
        fn walk(cmd: &Command, path: &str, out: &mut Vec<(String, String, String)>) {
            if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
                out.push((path.to_owned(), String::new(), about.to_string()));
            }
            for arg in cmd.get_arguments() {
                if let Some(help) = arg.get_long_help().or(arg.get_help()) {
                    out.push((path.to_owned(), arg.get_id().to_string(), help.to_string()));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = match path {
                    "" => sub.get_name().to_owned(),
                    _ => format!("{path} {}", sub.get_name()),
                };
                walk(sub, &sub_path, out);
            }
        }
        let mut out = Vec::new();
        walk(&Cli::command(), "", &mut out);
        out
    }

    #[test]
    fn every_help_text_has_french() {
        let missing: Vec<String> = english_texts()
            .into_iter()
            .filter(|(path, id, _)| french(path, id).is_none())
            .map(|(path, id, english)| format!("    ({path:?}, {id:?}, {english:?}),"))
            .collect();
        assert!(
            missing.is_empty(),
            "{} texts of --help have no French in help_fr.rs:\n{}",
            missing.len(),
            missing.join("\n")
        );
    }

    #[test]
    fn every_french_text_belongs_to_a_command_or_argument() {
        let english = english_texts();
        for (path, id, _) in FR {
            assert!(
                english.iter().any(|(p, i, _)| p == path && i == id),
                "help_fr.rs has French for ({path:?}, {id:?}), which has no English text"
            );
        }
        let mut keys: Vec<_> = FR.iter().map(|(path, id, _)| (path, id)).collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before, "an entry of help_fr.rs is there twice");
    }

    /// Every text of a built tree (clap's own parts included), in walking order.
    fn built_texts(mut cmd: Command) -> Vec<(String, String)> {
        fn walk(cmd: &Command, path: &str, out: &mut Vec<(String, String)>) {
            let texts = [cmd.get_about(), cmd.get_long_about()];
            for text in texts.into_iter().flatten() {
                out.push((path.to_owned(), text.to_string()));
            }
            for arg in cmd.get_arguments() {
                let key = format!("{path} {}", arg.get_id());
                for text in [arg.get_help(), arg.get_long_help()].into_iter().flatten() {
                    out.push((key.clone(), text.to_string()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        cmd.build();
        let mut out = Vec::new();
        walk(&cmd, "passerelle", &mut out);
        out
    }

    #[test]
    fn the_french_tree_keeps_no_english_text() {
        let english = built_texts(Cli::command());
        let french = built_texts(command(Lang::Fr));
        assert!(english.len() > 250, "{}", english.len());
        for (place, text) in &english {
            assert!(
                !french.iter().any(|(p, t)| p == place && t == text),
                "{place}: still English in French: {text:?}"
            );
        }
        // The English tree is clap's own, untouched.
        assert_eq!(built_texts(command(Lang::En)), english);
    }

    #[test]
    fn french_help_has_french_headings_and_notes() {
        let mut cmd = command(Lang::Fr);
        let top = cmd.render_long_help().to_string();
        for needle in [
            "Utilisation : passerelle [OPTIONS] <COMMANDE>",
            "Commandes :",
            "Options :",
            "Afficher l'aide",
            "Afficher la version",
            "[variable d'environnement : PASSERELLE_HOME]",
            "[valeurs possibles : fr, en]",
        ] {
            assert!(top.contains(needle), "{needle:?} not in:\n{top}");
        }
        let sync = cmd
            .find_subcommand_mut("sync")
            .expect("sync")
            .render_long_help()
            .to_string();
        assert!(sync.contains("[par défaut : 256]"), "{sync}");
        assert!(!sync.contains("default:"), "{sync}");
    }

    #[test]
    fn lang_flag_is_found_before_parsing() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            lang_from_args(args(&["passerelle", "--lang", "en", "docs"])),
            Lang::En
        );
        assert_eq!(
            lang_from_args(args(&["passerelle", "docs", "--lang=fr"])),
            Lang::Fr
        );
        assert_eq!(
            lang_from_args(args(&["passerelle", "--lang=FR", "--lang", "en"])),
            Lang::En
        );
        // After `--` an argument is a value, not an option.
        assert_eq!(
            lang_from_args(args(&["passerelle", "--lang", "fr", "--", "--lang", "en"])),
            Lang::Fr
        );
    }
}
