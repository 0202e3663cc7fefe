//! Paths and links: where each page lives, and which URLs from build
//! metadata may become links.

use perfkit_schema::ProjectName;

/// A project's directory in the site: its name with `/` as `~`, which no
/// project name contains, so `a/b` and a project `a~b` cannot collide and
/// nested Gerrit projects (`a/b` and `a/b/c`) never share a directory.
pub fn project_dir(project: &ProjectName) -> String {
    project.as_str().replace('/', "~")
}

/// `url` when it is an absolute http(s) URL without spaces or control
/// characters: anything else (`javascript:`, relative paths) from untrusted
/// build metadata is not turned into a link.
pub fn http_url(url: &str) -> Option<&str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_urls_become_links() {
        assert_eq!(
            http_url("https://zuul.opendev.org/t/openstack/build/1"),
            Some("https://zuul.opendev.org/t/openstack/build/1")
        );
        assert_eq!(http_url("HTTP://x/y"), Some("HTTP://x/y"));
        assert_eq!(http_url("javascript:alert(1)"), None);
        assert_eq!(http_url("https://x/\"><img"), Some("https://x/\"><img"));
        assert_eq!(http_url("https://x/a b"), None);
        assert_eq!(http_url("/relative"), None);
    }

    #[test]
    fn project_dirs_are_flat() {
        let p = ProjectName::try_from("openstack/nova").unwrap();
        assert_eq!(project_dir(&p), "openstack~nova");
    }
}
