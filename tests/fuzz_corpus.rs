//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the
//! same entry points the cargo-fuzz targets call (`zoom_ws::__fuzz`), on
//! stable and in every `cargo test`: every input that ever found a bug
//! stays fixed, and the promises each entry point checks (short errors, no
//! secret quoted, events surviving the frame round trip) hold for the seeds.
//!
//! Add a file under `fuzz/corpus/<target>/` and it is replayed here.
#![cfg(all(feature = "stream", feature = "webhook"))]

use std::path::Path;

type Entry = fn(&[u8]);

const TARGETS: [(&str, Entry); 7] = [
    ("wire_frame", zoom_ws::__fuzz::wire_frame),
    ("event", zoom_ws::__fuzz::event),
    ("upgrade_response", zoom_ws::__fuzz::upgrade_response),
    ("webhook", zoom_ws::__fuzz::webhook),
    ("jwt", zoom_ws::__fuzz::jwt),
    ("token_answer", zoom_ws::__fuzz::token_answer),
    ("rest_error", zoom_ws::__fuzz::rest_error),
];

#[test]
fn corpus_replays_through_every_entry_point() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    if !root.is_dir() {
        // A packaged crate: fuzz/ is excluded from it.
        return;
    }
    for (target, entry) in TARGETS {
        let dir = root.join("corpus").join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no corpus", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let replay = std::panic::catch_unwind(|| entry(&data));
            assert!(replay.is_ok(), "{} panicked", file.display());
        }
    }
}

/// Every entry point takes empty and tiny inputs.
#[test]
fn tiny_inputs() {
    for (_, entry) in TARGETS {
        for data in [
            &b""[..],
            b"\x00",
            b"\x01",
            b"\xff",
            b"{",
            b"\n\n",
            b"\x01\n\n",
        ] {
            entry(data);
        }
    }
}
