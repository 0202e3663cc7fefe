//! Project → OpenStack service type (`trove` → `database`), from the
//! official service-types authority data shipped in `os-service-types`
//! (embedded as `data/service-types.json`). The custom-plugin scaffold uses
//! it to find a project's endpoint in the Keystone catalog.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Deserialize)]
struct Table {
    by_project: BTreeMap<String, String>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("data/service-types.json"))
            .expect("embedded catalog/data/service-types.json parses")
    })
}

/// The service type registered for `project` (a short name such as `trove`).
pub fn for_project(project: &str) -> Option<&'static str> {
    table().by_project.get(project).map(String::as_str)
}

/// Every (project, service type) pair of the table.
pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    table()
        .by_project
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn well_known_projects_have_their_types() {
        assert_eq!(super::for_project("trove"), Some("database"));
        assert_eq!(super::for_project("nova"), Some("compute"));
        assert_eq!(super::for_project("cyborg"), Some("accelerator"));
        assert_eq!(super::for_project("no-such-project"), None);
    }
}
