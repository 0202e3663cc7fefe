//! Archive behaviour against Microsoft's Azure Blob Storage emulator
//! (Azurite on 127.0.0.1): the suite the S3 archive passes, run on an
//! `az://` URL, plus conditional-create semantics and a server that goes
//! away. Skipped when `PERFKIT_AZURITE` (the `azurite-blob` launcher that
//! `tests/run` installs from npm) is unset.
//!
//! object_store finds the emulator through the environment variable
//! `AZURITE_BLOB_STORAGE_URL` only, so this file holds one test, which
//! sets it before any other thread runs.

#[path = "support/local_server.rs"]
mod local_server;
#[path = "support/archive_suite.rs"]
mod suite;

use std::path::Path as FsPath;
use std::process::Command;

use local_server::LocalServer;
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use perfkit_archive::Archive;

use suite::{NOVA_BUILD_DIR, nova};

const CONTAINER: &str = "perfkit-test";

fn start_azurite(exe: &FsPath, dir: &FsPath) -> LocalServer {
    let data = dir.to_string_lossy().into_owned();
    LocalServer::start(
        "azurite",
        exe,
        |port| {
            [
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--location",
                &data,
                "--silent",
                "--skipApiVersionCheck",
                // No telemetry to Microsoft: tests reach 127.0.0.1 only.
                "--disableTelemetry",
            ]
            .map(str::to_string)
            .to_vec()
        },
        // Azurite itself, not whatever else may have taken the port.
        |port| {
            local_server::http_request(port, "GET", "/")
                .1
                .contains("Server: Azurite-Blob/")
        },
        dir,
    )
}

/// Creates a container the way a user would before pointing perfkit at it
/// (object_store cannot): tests/tools/azurite_container.py.
fn create_container(endpoint: &str, container: &str) {
    let script =
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/azurite_container.py");
    let out = Command::new("python3")
        .arg(script)
        .args([endpoint, container])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "creating container {container}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Options as a user gives them (`AZURE_STORAGE_USE_EMULATOR=true`).
fn options() -> Vec<(&'static str, String)> {
    vec![("azure_storage_use_emulator", "true".to_string())]
}

/// The same container without the archive, to plant objects and check keys.
fn raw_store() -> MicrosoftAzure {
    MicrosoftAzureBuilder::new()
        .with_container_name(CONTAINER)
        .with_use_emulator(true)
        .build()
        .unwrap()
}

#[test]
fn azure_archive_against_azurite() {
    let Some(exe) = local_server::tool_from_env(
        "PERFKIT_AZURITE",
        "azure_archive_against_azurite (needs the azurite-blob launcher; tests/run installs it)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_azurite(&exe, dir.path());
    let endpoint = server.endpoint();
    // SAFETY: the only test of this binary, and no thread has started yet
    // that could read the environment concurrently.
    unsafe { std::env::set_var("AZURITE_BLOB_STORAGE_URL", &endpoint) };
    create_container(&endpoint, CONTAINER);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let raw = raw_store();
        let archive =
            Archive::open_with_options(&format!("az://{CONTAINER}/runs/a/"), options()).unwrap();
        assert_eq!(archive.display_url(), "az://perfkit-test/runs/a");
        suite::exercise(&archive, &raw, "runs/a").await;
        assert_eq!(
            archive.build_url(&nova()),
            format!("az://{CONTAINER}/runs/a/{NOVA_BUILD_DIR}")
        );

        suite::assert_conditional_create(&raw).await;

        suite::concurrent_puts(
            &Archive::open_with_options(&format!("az://{CONTAINER}/runs/b"), options()).unwrap(),
        )
        .await;

        // The server goes away: a clear archive error after bounded retries.
        let down =
            Archive::open_with_options(&format!("az://{CONTAINER}/down"), options()).unwrap();
        server.kill();
        suite::assert_server_down_errors(&down, "az://perfkit-test/down").await;
    });
}
