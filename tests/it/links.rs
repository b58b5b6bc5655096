//! Link extraction never fails: mutated and truncated OLX (the sample course's
//! files, bytes flipped, cut, duplicated) always yields links and problems,
//! never a panic, and the same bytes always give the same result.

use crate::common::*;
use blockstore::store::links::{extract, Syntax};

fn mutate(rng: &mut SplitMix64, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.index(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.index(out.len());
        match rng.index(5) {
            0 => out[at] = rng.next() as u8,
            1 => out.truncate(at),
            2 => {
                let piece: Vec<u8> = out[at..].iter().take(1 + rng.index(40)).copied().collect();
                out.splice(at..at, piece);
            }
            3 => {
                let end = (at + 1 + rng.index(20)).min(out.len());
                out.drain(at..end);
            }
            _ => {
                let insert: &[u8] = [
                    &b"<"[..],
                    b">",
                    b"\"",
                    b"&",
                    b"]]>",
                    b"<!--",
                    b"\xff\xfe",
                    b"/static/",
                    b"/jump_to_id/",
                ][rng.index(9)];
                out.splice(at..at, insert.iter().copied());
            }
        }
    }
    out
}

#[test]
fn extraction_never_panics_and_is_deterministic_on_mutated_olx() {
    let files: Vec<(String, Vec<u8>)> = tree_files(&sample_course())
        .into_iter()
        .filter(|(path, _)| path.ends_with(".xml") || path.ends_with(".html"))
        .collect();
    assert!(!files.is_empty());
    let mut rng = SplitMix64(0x5EED);
    for round in 0..4_000 {
        let (path, bytes) = &files[rng.index(files.len())];
        let mutated = mutate(&mut rng, bytes);
        for syntax in [Syntax::Xml, Syntax::Html] {
            let first = extract(path, &mutated, syntax);
            let again = extract(path, &mutated, syntax);
            assert_eq!(
                first, again,
                "round {round}: {path} extracts the same twice"
            );
            if syntax == Syntax::Html {
                assert!(first.problems.is_empty(), "HTML is never flagged");
            }
            for problem in &first.problems {
                assert!(
                    problem.line >= 1 && problem.column >= 1,
                    "positions are 1-based: {problem:?}"
                );
            }
        }
    }
}
