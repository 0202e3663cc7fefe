//! A project's existing Zuul config file (`zuul.yaml`, `.zuul.yaml`, a file
//! of `zuul.d/`) as `perfkit scaffold` reads it and merges its job into it:
//! stanzas parsed, the job appended or replaced, the job listed in the
//! project's pipelines. The first byte picks `--force`.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use perfkit_zuul::ScaffoldError;
use perfkit_zuul::scaffold::config::parse_stanzas;
use perfkit_zuul::scaffold::merge::{JobBlock, merge_into_file};
use yaml_serde::Value;

const JOB: &str = "\
# Added by perfkit scaffold.
- job:
    name: perfkit-rally
    parent: rally-task-at-devstack
    vars:
      rally_task: rally-jobs/perfkit.yaml
";

fn job_stanza() -> &'static Value {
    static STANZA: OnceLock<Value> = OnceLock::new();
    STANZA.get_or_init(|| parse_stanzas(Path::new("job.yaml"), JOB).unwrap().remove(0))
}

fn render_project(pipelines: &[String]) -> Result<String, ScaffoldError> {
    let mut text = String::from("- project:\n");
    for pipeline in pipelines {
        text.push_str(&format!(
            "    {pipeline}:\n      jobs:\n        - perfkit-rally\n"
        ));
    }
    Ok(text)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(original) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new(".zuul.yaml");
    let Ok(stanzas) = parse_stanzas(path, original) else {
        return;
    };
    let job = JobBlock {
        name: "perfkit-rally",
        text: JOB,
        stanza: job_stanza(),
    };
    let pipelines = ["check".to_string(), "periodic".to_string()];
    let _ = merge_into_file(
        path,
        original,
        &stanzas,
        &job,
        &pipelines,
        &render_project,
        first & 1 == 1,
    );
});
