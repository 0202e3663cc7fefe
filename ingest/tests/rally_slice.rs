//! The in-memory fast path (`json_inplace` + `rally::parse_slice`, used by
//! the ingest pipeline) gives exactly what the streaming reader gives, on
//! every real fixture and on broken input.

use std::path::{Path, PathBuf};

use perfkit_archive::sink::OwnedSample;
use perfkit_ingest::json_inplace::quote_non_finite;
use perfkit_ingest::rally::{ParseOptions, parse, parse_slice};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rally");
    let mut files: Vec<PathBuf> = [dir.clone(), dir.join("history")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().flatten().map(|e| e.path()))
        .filter(|p| {
            p.to_string_lossy().ends_with(".report.json")
                || p.to_string_lossy().ends_with(".results.json")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn slice_and_reader_agree_on_every_fixture() {
    let options = ParseOptions { job: "job" };
    let files = fixtures();
    assert!(files.len() >= 17, "{files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let mut streamed: Vec<OwnedSample> = Vec::new();
        let from_reader = parse(bytes.as_slice(), &options, &mut streamed).unwrap();
        let mut buffer = bytes.clone();
        quote_non_finite(&mut buffer);
        let mut sliced: Vec<OwnedSample> = Vec::new();
        let from_slice = parse_slice(&buffer, &options, &mut sliced).unwrap();
        assert_eq!(streamed, sliced, "{}", path.display());
        assert_eq!(
            format!("{from_reader:?}"),
            format!("{from_slice:?}"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn slice_errors_match_reader_errors() {
    let options = ParseOptions { job: "" };
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/rally/dev-failures.report.json"),
    )
    .unwrap();
    for bad in [
        &text[..text.len() / 3],
        "",
        "  \n",
        "<html>",
        "{}",
        "[]",
        r#"{"tasks": 5}"#,
    ] {
        let a = parse(bad.as_bytes(), &options, &mut Vec::new()).unwrap_err();
        let b = parse_slice(bad.as_bytes(), &options, &mut Vec::new()).unwrap_err();
        assert_eq!(
            (a.kind.clone(), &a.json_path, a.line, &a.message),
            (b.kind.clone(), &b.json_path, b.line, &b.message),
            "{bad:.40}"
        );
    }
}
