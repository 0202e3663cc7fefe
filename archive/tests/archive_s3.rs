//! Archive behaviour against a real S3-compatible server (moto on
//! 127.0.0.1): the shared suite, conditional-create semantics, the real
//! object keys as an independent client (boto3) lists them, and a server
//! that goes away. Skipped when `PERFKIT_TOOLS_BIN` is unset.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/archive_suite.rs"]
mod suite;

use std::path::Path as FsPath;
use std::process::Command;
use std::time::Instant;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use perfkit_archive::{Archive, PutOutcome};

use moto::Moto;
use suite::{NOVA_BUILD_DIR, NOVA_BUILDS_KEY, nova, objects};

const BUCKET: &str = "perfkit-test";

/// Explicit options, so parallel tests never share process environment.
fn options(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("aws_endpoint", endpoint.to_string()),
        ("aws_allow_http", "true".into()),
        ("aws_access_key_id", "test".into()),
        ("aws_secret_access_key", "test".into()),
        ("aws_region", "us-east-1".into()),
    ]
}

/// The same bucket without the archive, to plant objects and check keys.
fn raw_store(endpoint: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_region("us-east-1")
        .build()
        .unwrap()
}

/// Keys below `prefix` as boto3 lists them (it decodes the URL-encoded
/// listing itself, independently of object_store).
fn boto3_keys(bin: &FsPath, endpoint: &str, prefix: &str) -> Vec<String> {
    let script = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["PERFKIT_TEST_S3_ENDPOINT"], region_name="us-east-1")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):
    for obj in page.get("Contents", []):
        print(obj["Key"])
"#;
    let out = Command::new(bin.join("python"))
        .args(["-c", script, BUCKET, prefix])
        .env("PERFKIT_TEST_S3_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 listing failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_archive_against_moto() {
    let Some(bin) = moto::tools_bin("s3_archive_against_moto") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let server = Moto::start(&bin, logs.path());
    server.create_bucket(BUCKET);
    let endpoint = server.endpoint();
    let raw = raw_store(&endpoint);

    let archive =
        Archive::open_with_options(&format!("s3://{BUCKET}/runs/a/"), options(&endpoint)).unwrap();
    assert_eq!(archive.display_url(), "s3://perfkit-test/runs/a");
    suite::exercise(&archive, &raw, "runs/a").await;
    assert_eq!(
        archive.build_url(&nova()),
        format!("s3://{BUCKET}/runs/a/{NOVA_BUILD_DIR}")
    );

    // The key as any S3 client sees it: `%2F` is part of the key's text.
    let keys = boto3_keys(
        &bin,
        &endpoint,
        "runs/a/v2/builds/project=openstack%2Fnova/",
    );
    assert!(
        keys.contains(&format!("runs/a/{NOVA_BUILDS_KEY}")),
        "{keys:#?}"
    );
    assert!(boto3_keys(&bin, &endpoint, "runs/a/v2/builds/project=openstack/").is_empty());

    suite::assert_conditional_create(&raw).await;

    suite::concurrent_puts(
        &Archive::open_with_options(&format!("s3://{BUCKET}/runs/b"), options(&endpoint)).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn s3_server_down_fails_with_archive_error() {
    let Some(bin) = moto::tools_bin("s3_server_down_fails_with_archive_error") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let mut server = Moto::start(&bin, logs.path());
    server.create_bucket(BUCKET);
    let archive =
        Archive::open_with_options(&format!("s3://{BUCKET}/down"), options(&server.endpoint()))
            .unwrap();
    let outcome = archive
        .put_build(objects(&nova(), "up"), false)
        .await
        .unwrap();
    assert_eq!(outcome, PutOutcome::Written);

    server.kill();
    suite::assert_server_down_errors(&archive, "s3://perfkit-test/down").await;

    // Nothing ever listened there.
    let endpoint = format!("http://127.0.0.1:{}", moto::closed_port());
    let never =
        Archive::open_with_options(&format!("s3://{BUCKET}/never"), options(&endpoint)).unwrap();
    let started = Instant::now();
    let err = never.contains(&nova()).await.unwrap_err();
    eprintln!("closed port: failed after {:.1?}: {err}", started.elapsed());
    suite::assert_archive_error(&err, "s3://perfkit-test/never");
}
