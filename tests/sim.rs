//! Issue 8: the whole system in a seeded, deterministic simulation (`src/sim/`): the real
//! server and three real replicas in one turmoil network, with partitions, delays, message
//! loss, crashes and restarts of any host (losing what was not flushed) and random edits;
//! then the network heals and every replica, and the server's disk, must hold the same
//! documents with every edit that was reported saved.
//!
//! - `PASSERELLE_SIM_SEED=S`: replay one seed (with `-- --nocapture` to see its trace).
//! - `PASSERELLE_SIM_BATCH=N` (and `PASSERELLE_SIM_FIRST=F`): N seeds from F.
//! - `scripts/soak-sim`: thousands of seeds in release.
//!
//! - `PASSERELLE_TEST_STORE=postgres` (with `PASSERELLE_TEST_POSTGRES`): the server's store is
//!   PostgreSQL, a fresh database per seed.
//!
//! The self-check, `a_server_that_acknowledges_unflushed_writes_is_caught`, runs seeds with
//! a server disk that lies about its flushes: they must fail.

use std::time::Instant;

use passerelle_tests::sim::{SimOptions, run_seed, seeds_from_env};

/// Seeds run by `cargo test` (CI) unless the environment says otherwise.
const CI_BATCH: u64 = 60;

#[test]
fn every_saved_edit_survives_partitions_loss_and_crashes() {
    let seeds = seeds_from_env(CI_BATCH);
    let options = SimOptions::default();
    let started = Instant::now();
    let mut failures = Vec::new();
    let (mut edits, mut syncs, mut crashes, mut simulated_ms) = (0, 0, 0, 0);
    let (mut overlapping, mut mid_pass_edits, mut passes_cut) = (0, 0, 0);
    for &seed in &seeds {
        match run_seed(seed, &options) {
            Ok(outcome) => {
                edits += outcome.saved_edits;
                syncs += outcome.syncs;
                crashes += outcome.server_crashes + outcome.client_crashes;
                overlapping += outcome.overlapping_passes;
                mid_pass_edits += outcome.edits_mid_pass;
                passes_cut += outcome.passes_cut;
                simulated_ms += outcome.simulated_ms;
                if seeds.len() == 1 {
                    println!("seed {seed}: {outcome:?}");
                }
            }
            Err(failure) => {
                eprintln!("{failure}");
                failures.push(seed);
            }
        }
    }
    println!(
        "{} seeds in {:.1?}: {edits} saved edits ({mid_pass_edits} during the replica's own \
         pass), {syncs} sync passes ({overlapping} started while another ran), {crashes} \
         crashes ({passes_cut} cutting a pass short), {:.0} s simulated",
        seeds.len(),
        started.elapsed(),
        simulated_ms as f64 / 1000.0
    );
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed: {failures:?} (replay one with PASSERELLE_SIM_SEED=S)",
        failures.len(),
        seeds.len()
    );
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let options = SimOptions {
        actions: 40,
        ..SimOptions::default()
    };
    for seed in [7, 8] {
        let first = run_seed(seed, &options).unwrap_or_else(|f| panic!("{f}"));
        let second = run_seed(seed, &options).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(
            first, second,
            "seed {seed} ran differently twice: something in the run is not deterministic"
        );
        assert!(first.syncs > 0 && first.saved_edits > 0, "{first:?}");
    }
}

/// The simulation catches a server that acknowledges writes it has not made durable: with
/// the server's disk lying about its flushes, every seed fails a durability check.
#[test]
fn a_server_that_acknowledges_unflushed_writes_is_caught() {
    if passerelle_tests::sim::on_postgres() {
        eprintln!(
            "skipping a_server_that_acknowledges_unflushed_writes_is_caught under \
             PASSERELLE_TEST_STORE=postgres: PostgreSQL commits every batch, its flush cannot lie"
        );
        return;
    }
    let options = SimOptions {
        lying_server_disk: true,
        ..SimOptions::default()
    };
    let mut reasons = Vec::new();
    for seed in 1..=8 {
        match run_seed(seed, &options) {
            Ok(outcome) => panic!(
                "seed {seed} passed with a lying server disk: the checks miss lost writes \
                 ({outcome:?})"
            ),
            Err(failure) => reasons.push((seed, failure.reason)),
        }
    }
    for (seed, reason) in &reasons {
        println!("seed {seed}: {reason}");
        let durability = [
            "the server's disk does not hold",
            "the server's durable documents differ",
            "an edit reported saved is missing",
            "no convergence",
        ];
        assert!(
            durability.iter().any(|words| reason.contains(words)),
            "seed {seed} failed for another reason than lost writes: {reason}"
        );
    }
}
