//! Mutation fuzzers for the two readers of user files: the `kpi.toml` parser and the export
//! reader (CSV and NDJSON through a mapping). Each starts from real inputs (the starter and
//! sample configurations, the example exports), mutates them (bytes flipped, spans cut or
//! repeated, tokens that matter to the format inserted) and checks that every input is either
//! read or refused with an error: never a panic, never a hang. An input that panics is saved
//! under `target/fuzz-failures/` and fails the run.
//!
//! Not part of the test run (they are `#[ignore]`d); run them for N seconds each with
//!
//! ```sh
//! KPI_FUZZ_SECONDS=600 cargo test --test it fuzz -- --ignored --nocapture
//! ```
//!
//! `KPI_FUZZ_SEED` picks another sequence of inputs (the default is fixed, so a run repeats).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kpi::config::{Config, SourceMapping};
use kpi::ingest::stream::ingest_file;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// xorshift64*: a small, seedable generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `input` with a few random mutations, some inserting one of `tokens`.
fn mutate(rng: &mut Rng, input: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = tokens[rng.below(tokens.len())];
                out.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(256)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span);
            }
            4 => {
                let byte = rng.next() as u8;
                out.insert(at, byte);
            }
            _ => {
                // A number at an edge of a type's range.
                let edges: [&[u8]; 6] = [
                    b"9223372036854775807",
                    b"-9223372036854775808",
                    b"18446744073709551616",
                    b"1e308",
                    b"-0.0000000001",
                    b"99999999999999999999999999",
                ];
                let edge = edges[rng.below(edges.len())];
                out.splice(at..at, edge.iter().copied());
            }
        }
    }
    out
}

fn budget() -> Duration {
    let seconds = std::env::var("KPI_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(seconds)
}

fn seed() -> u64 {
    std::env::var("KPI_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d_cafe_b0ba)
        | 1
}

/// Run `case` on mutated inputs until the time is up; save and report an input that panics.
fn fuzz(name: &str, seeds: &[Vec<u8>], tokens: &[&[u8]], case: impl Fn(&[u8])) {
    let mut rng = Rng(seed());
    let started = Instant::now();
    let mut cases = 0u64;
    // Silence the panic messages of the cases; the failing input is what matters.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failure = None;
    while started.elapsed() < budget() {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base, tokens);
        cases += 1;
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| case(&input))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failure = Some((input, message));
            break;
        }
    }
    std::panic::set_hook(hook);
    eprintln!("{name}: {cases} inputs in {:.0?}", started.elapsed());
    if let Some((input, message)) = failure {
        let dir = root().join("target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}-{cases}"));
        std::fs::write(&path, &input).unwrap();
        panic!("{name}: input {} panicked: {message}", path.display());
    }
}

#[test]
#[ignore = "a fuzzer: run it for a while with KPI_FUZZ_SECONDS (see the module docs)"]
fn fuzz_the_configuration_parser() {
    let seeds: Vec<Vec<u8>> = [
        "src/starter_kpi.toml",
        "sample_data/kpi.toml",
        "examples/mappings/tickets.toml",
        "examples/mappings/events.toml",
        "examples/mappings/snapshots.toml",
    ]
    .iter()
    .map(|p| std::fs::read(root().join(p)).unwrap())
    .collect();
    let tokens: &[&[u8]] = &[
        b"[sources.x]\nshape = \"tickets\"\n",
        b"[[calendars.c.periods]]\nfrom = \"2026-03-02\"\nhours = { mon = [\"05:00-10:00\"] }\n",
        b"\"22:00-06:00\"",
        b"\"24:00-24:00\"",
        b"\"%Y-%m-%d %",
        b"{ headers = [\"a\", \"b\"], join = \"\" }",
        b"{ header = \"a\", occurrence = 0 }",
        b"timestamp_range = [\"2100-12-31\", \"1970-01-01\"]",
        b"\"skip\"",
        b"\n[",
        b"\"",
        b"'''",
        b"= ",
        b"\xF0\x9F\x98\x80",
        b"\xFF",
    ];
    let path = Path::new("kpi.toml");
    fuzz("config", &seeds, tokens, |input| {
        // The parser reads text: invalid UTF-8 is refused before it.
        if let Ok(text) = std::str::from_utf8(input) {
            let _ = Config::parse(path, text);
        }
    });
}

#[test]
#[ignore = "a fuzzer: run it for a while with KPI_FUZZ_SECONDS (see the module docs)"]
fn fuzz_the_export_reader() {
    let examples = root().join("examples/mappings");
    let mapping = |shape: &str| -> SourceMapping {
        let path = examples.join(format!("{shape}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        Config::parse(&path, &text).unwrap().sources.remove(0)
    };
    let shapes = [
        (mapping("tickets"), "tickets.csv"),
        (mapping("events"), "events.ndjson"),
        (mapping("snapshots"), "snapshots.csv"),
    ];
    // The first lines of each example export are the seeds.
    let seeds: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(_, file)| {
            let text = std::fs::read(examples.join(file)).unwrap();
            text.split_inclusive(|&b| b == b'\n')
                .take(12)
                .flatten()
                .copied()
                .collect()
        })
        .collect();
    let tokens: &[&[u8]] = &[
        b"\"",
        b"\"\"",
        b",",
        b";",
        b"\n",
        b"\r\n",
        b"\r",
        b"\xEF\xBB\xBF",
        b"\xFF\xFE",
        b"\xC3",
        b"{",
        b"}",
        b"[1, {\"a\": null}]",
        b"null",
        b"1.0",
        b"1e2",
        b"8210298412800",
        b"0000-01-01T00:00:00Z",
        b"2026-02-30T25:61:60Z",
        b"\\u0000",
        b"\\ud800",
    ];
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    fuzz("export", &seeds, tokens, |input| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (mapping, file) = &shapes[i % shapes.len()];
        let path = dir.path().join(file);
        std::fs::write(&path, input).unwrap();
        let _ = ingest_file(&path, mapping, 1 + i % 7, i.is_multiple_of(5), &mut |_| {
            Ok(())
        });
    });
}
