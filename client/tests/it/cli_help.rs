//! `passerelle --help` speaks the run's language: French by default and with `--lang fr`,
//! English with `--lang en` or an English locale. The real binary, at the top level and in
//! nested subcommands.

use std::process::{Command, Output};

/// Runs `passerelle ARGS…` with the locale variables given (all others removed).
fn run(locale: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    command
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG")
        .env_remove("PASSERELLE_HOME")
        .env_remove("RUST_LOG");
    for (name, value) in locale {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// The help `passerelle ARGS…` prints, checking it succeeds and is written to stdout.
fn help(locale: &[(&str, &str)], args: &[&str]) -> String {
    let output = run(locale, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "passerelle {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

fn assert_has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}

fn assert_lacks(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(!text.contains(needle), "{needle:?} in:\n{text}");
    }
}

const ENGLISH_LOCALE: &[(&str, &str)] = &[("LANG", "en_US.UTF-8")];

fn assert_french_top(text: &str) {
    assert_has(
        text,
        &[
            "Le client passerelle : une réplique de vos documents",
            "Utilisation : passerelle",
            "Commandes :",
            "Préparer la réplique et le serveur",
            "Les projets : leur cadre logique",
            "Le dossier de la réplique",
            "Afficher l'aide",
            "Afficher la version",
        ],
    );
    assert_lacks(
        text,
        &[
            "Usage:",
            "Commands:",
            "Print help",
            "Set up the replica",
            "[default:",
        ],
    );
}

fn assert_english_top(text: &str) {
    assert_has(
        text,
        &[
            "The passerelle client: an offline-first replica of your documents",
            "Usage: passerelle",
            "Commands:",
            "Set up the replica and the server it syncs with",
            "Print help",
            "Print version",
        ],
    );
    assert_lacks(text, &["Utilisation", "Commandes", "Afficher", "réplique"]);
}

fn assert_french_nested(text: &str) {
    assert_has(
        text,
        &[
            "Ajouter une ligne budgétaire avec son montant prévu",
            "Utilisation : passerelle project budget add",
            "L'identifiant ou le code du projet",
            "La rubrique, par exemple « Personnel »",
            "Le dossier de la réplique",
            "Afficher l'aide",
        ],
    );
    assert_lacks(
        text,
        &[
            "Usage:",
            "Print help",
            "The heading",
            "The replica directory",
        ],
    );
    // The positionals in the order they are typed, as in English.
    let order: Vec<usize> = [
        "\n  <PROJECT>",
        "\n  <HEADING>",
        "\n  <AMOUNT>",
        "\n  <CURRENCY>",
    ]
    .iter()
    .map(|name| {
        text.find(name)
            .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
    })
    .collect();
    assert!(order.is_sorted(), "positionals out of order:\n{text}");
}

fn assert_english_nested(text: &str) {
    assert_has(
        text,
        &[
            "Add a budget line with its planned amount; prints its id",
            "Usage: passerelle project budget add",
            "The project's id or code",
            "The heading, e.g. \"Personnel\"",
            "Print help",
        ],
    );
    assert_lacks(text, &["Utilisation", "Afficher", "rubrique"]);
}

const NESTED: &[&str] = &["project", "budget", "add", "--help"];

#[test]
fn help_is_french_without_a_locale() {
    assert_french_top(&help(&[], &["--help"]));
    assert_french_nested(&help(&[], NESTED));
    // `-h` (the summary) and `help SUB…` too.
    assert_french_top(&help(&[], &["-h"]));
    assert_french_nested(&help(&[], &["help", "project", "budget", "add"]));
    // A locale that names neither language leaves French.
    assert_french_top(&help(&[("LANG", "C.UTF-8")], &["--help"]));
}

#[test]
fn help_follows_the_lang_flag_over_the_locale() {
    assert_french_top(&help(ENGLISH_LOCALE, &["--lang", "fr", "--help"]));
    assert_french_nested(&help(
        ENGLISH_LOCALE,
        &["--lang=fr", "project", "budget", "add", "--help"],
    ));
    assert_english_top(&help(&[], &["--lang", "en", "--help"]));
    assert_english_nested(&help(
        &[],
        &["project", "budget", "add", "--lang=en", "--help"],
    ));
    assert_english_top(&help(
        &[("LANG", "fr_FR.UTF-8")],
        &["--help", "--lang", "en"],
    ));
}

#[test]
fn help_follows_an_english_locale() {
    assert_english_top(&help(ENGLISH_LOCALE, &["--help"]));
    assert_english_nested(&help(ENGLISH_LOCALE, NESTED));
    // LC_ALL comes before LANG, as POSIX orders them.
    assert_french_top(&help(
        &[("LC_ALL", "fr_FR.UTF-8"), ("LANG", "en_GB.UTF-8")],
        &["--help"],
    ));
}

#[test]
fn french_help_says_defaults_and_choices_in_french() {
    let sync = help(&[], &["sync", "--help"]);
    assert_has(
        &sync,
        &["[par défaut : 256]", "La taille de chaque requête en Kio"],
    );
    assert_lacks(&sync, &["[default: 256]"]);
    let export = help(&[], &["export", "--help"]);
    assert_has(
        &export,
        &["[valeurs possibles : automerge, json]", "Arguments :"],
    );
    assert_lacks(&export, &["possible values"]);
}

#[test]
fn bad_arguments_still_fail_in_either_language() {
    // Clap's error messages stay in English; the point is that parsing is unchanged.
    for lang in ["fr", "en"] {
        let output = run(&[], &["--lang", lang, "sync", "--batch-kib", "lots"]);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_has(&stderr, &["--batch-kib", "lots"]);
    }
}
