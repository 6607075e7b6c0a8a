//! The fuzz targets' checks (`fuzz/src/lib.rs`) in the normal test run: on
//! the seed corpus made from the real fixtures, and on every input kept in
//! `fuzz/regressions/<target>/`, each an input that once failed a check.
//!
//! With `PAYWATCH_FUZZ_CORPUS` set, the seeds are also written there, one
//! folder per target, for `scripts/fuzz.sh`.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;
use crate::common;

use std::path::{Path, PathBuf};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_seed_passes_its_target() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let seeds = checks::seeds(&fixtures, repo());
    let out = std::env::var_os("PAYWATCH_FUZZ_CORPUS").map(PathBuf::from);
    for (name, check) in checks::TARGETS {
        let mine: Vec<&Vec<u8>> = seeds
            .iter()
            .filter(|(t, _)| *t == name)
            .map(|(_, s)| s)
            .collect();
        assert!(mine.len() >= 2, "{name}: {} seeds", mine.len());
        for (i, seed) in mine.iter().enumerate() {
            check(seed);
            if let Some(out) = &out {
                let dir = out.join(name);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
            }
        }
        eprintln!("{name}: {} seeds pass", mine.len());
    }
}

#[test]
fn every_kept_regression_passes_its_target() {
    let mut total = 0;
    for (name, check) in checks::TARGETS {
        let dir = repo().join("fuzz/regressions").join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            eprintln!("{name}: {}", path.display());
            check(&input);
            total += 1;
        }
    }
    eprintln!("{total} kept inputs pass");
}
