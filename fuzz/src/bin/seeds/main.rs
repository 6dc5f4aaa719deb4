//! Writes the seed corpus: a few valid inputs per fuzz target, built with the project's own
//! encoders and signers, so the fuzzer starts past the first checks (a signature, a chain id, a
//! known service) instead of spending its run finding the shape of a transaction.
//!
//! `seeds DIR` writes `DIR/<target>/<name>` for every target. `.ci/fuzz` runs it before each
//! fuzzing run, so the seeds always match the current encodings; `fuzz/corpus/` holds a copy
//! plus the inputs that once crashed a target (docs/fuzzing.md).

mod check;
mod consensus;
mod files;
mod txs;
mod wire;

use std::path::Path;

/// One target's seeds: a file name and the bytes.
pub type Seeds = Vec<(&'static str, Vec<u8>)>;

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: seeds DIR");
        std::process::exit(2);
    };
    let targets: [(&str, Seeds); 15] = [
        ("tx", txs::txs()),
        ("batch", txs::batches()),
        ("mempool_admit", txs::admissions()),
        ("block", consensus::blocks()),
        ("consensus_message", consensus::messages()),
        ("p2p_frames", wire::frames()),
        ("p2p_fetch", wire::fetches()),
        ("ids", wire::ids()),
        ("genesis", files::geneses()),
        ("keyfile", files::keyfiles()),
        ("safety_data", files::safety()),
        ("service_definition", files::definitions()),
        ("process_definition", files::processes()),
        ("record", files::records()),
        ("wasm_module", files::modules()),
    ];
    for (target, seeds) in targets {
        check::passes(target, &seeds);
        let folder = Path::new(&dir).join(target);
        std::fs::create_dir_all(&folder).unwrap_or_else(|e| fail(&folder, e));
        for (name, bytes) in seeds {
            let path = folder.join(name);
            std::fs::write(&path, bytes).unwrap_or_else(|e| fail(&path, e));
        }
    }
}

fn fail(path: &Path, error: std::io::Error) -> ! {
    eprintln!("seeds: cannot write {}: {error}", path.display());
    std::process::exit(1);
}
