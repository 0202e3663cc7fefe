//! `perfkit demo`: its arguments and help.

use std::path::PathBuf;

use perfkit_ops::demo::DemoOptions;

/// Run perfkit's main job on bundled real results: ingest them into a
/// local archive, then build the site from it
///
/// The results are real Rally 5.1.1 runs: a 20-build periodic history whose
/// HTTP API got 10 ms slower at build 11, two patchsets (one slower, one
/// clean) and the edge cases (failures, SLA aborts, a crashed task); and
/// 13-run histories of Locust (keystone's token API got slower at run 9)
/// and fio (random writes lost IOPS to a second tenant at run 9).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  perfkit demo\n  perfkit demo --archive /tmp/perfkit-demo --out /tmp/perfkit-site\n  perfkit ls --archive /tmp/perfkit-demo"
)]
pub struct DemoArgs {
    /// Archive to write to [default: $PERFKIT_ARCHIVE, else ./perfkit-archive]
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// Directory to write the site to
    #[arg(long, value_name = "DIR", default_value = "perfkit-site")]
    out: PathBuf,
}

impl From<DemoArgs> for DemoOptions {
    fn from(args: DemoArgs) -> Self {
        DemoOptions {
            archive: args.archive,
            out: args.out,
        }
    }
}
