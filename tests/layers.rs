//! The crate layers of `docs/ARCHITECTURE.md`, checked from the manifests:
//! each crate's normal dependencies on other perfkit crates point only to
//! lower layers, and feature crates never depend on one another.

use std::path::Path;

/// Crate directories from the bottom layer up; crates in one inner slice
/// share a layer and must not depend on each other.
const LAYERS: &[&[&str]] = &[
    &["schema"],
    &["http"],
    &["archive"],
    &["analysis"],
    &["ingest", "site", "zuul", "gerrit", "git"],
    &["ops"],
    &["."],
];

fn layer_of(dir: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&dir))
        .unwrap_or_else(|| panic!("crate directory `{dir}` is in no layer"))
}

/// The `perfkit-*` crates named in the `[dependencies]` table of a manifest.
fn perfkit_dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut found = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && let Some(rest) = line.strip_prefix("perfkit-") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            found.push(name);
        }
    }
    found
}

#[test]
fn every_dependency_points_to_a_lower_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for layer in LAYERS {
        for dir in *layer {
            let manifest = std::fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap();
            for dependency in perfkit_dependencies(&manifest) {
                let below = layer_of(&dependency);
                assert!(
                    below < layer_of(dir),
                    "`{dir}` depends on perfkit-{dependency}, which is not in a lower layer"
                );
                checked += 1;
            }
        }
    }
    // The binary alone depends on ops; ops on every feature crate.
    assert!(
        checked >= 15,
        "only {checked} dependencies found: is the parser still right?"
    );
}

#[test]
fn every_workspace_member_has_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find(|l| l.starts_with("members"))
        .expect("a members line");
    for member in members.split('"').skip(1).step_by(2) {
        layer_of(member);
    }
}

/// The fuzz targets (`fuzz/`, its own workspace) build only the parser
/// crates, without their default features, so their build stays small:
/// its lock file holds none of the heavy dependencies the features gate.
#[test]
fn fuzz_targets_build_the_parsers_without_the_heavy_half() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).unwrap();
    let dependencies = perfkit_dependencies(&manifest);
    assert!(dependencies.len() >= 4, "{dependencies:?}");
    for dependency in &dependencies {
        assert!(
            ["schema", "http", "ingest", "zuul", "gerrit"].contains(&dependency.as_str()),
            "the fuzz targets depend on perfkit-{dependency}, which is not a parser crate"
        );
        let line = manifest
            .lines()
            .find(|l| l.starts_with(&format!("perfkit-{dependency} ")))
            .unwrap();
        assert!(
            line.contains("default-features = false"),
            "fuzz/Cargo.toml: perfkit-{dependency} with its default features"
        );
    }
    let lock = std::fs::read_to_string(root.join("fuzz/Cargo.lock")).unwrap();
    for heavy in [
        "arrow",
        "parquet",
        "object_store",
        "reqwest",
        "tokio",
        "git2",
    ] {
        assert!(
            !lock.contains(&format!("name = \"{heavy}\"")),
            "fuzz/Cargo.lock has {heavy}: a parser crate pulls it in without its feature"
        );
    }
}
