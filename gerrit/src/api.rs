//! The Gerrit REST entities perfkit reads from answers, apart from the
//! client that fetches them so that the marker reader in [`crate::message`]
//! builds without it (the fuzz targets do). [`crate::client`] re-exports them.

use serde::Deserialize;

/// The field of AccountInfo perfkit reads.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountInfo {
    #[serde(rename = "_account_id")]
    pub account_id: Option<u64>,
}

/// The fields of ChangeMessageInfo perfkit reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeMessageInfo {
    #[serde(default)]
    pub message: String,
    pub tag: Option<String>,
    #[serde(rename = "_revision_number")]
    pub revision_number: Option<u32>,
    /// Who posted it; absent on Gerrit's own messages.
    pub author: Option<AccountInfo>,
    /// Who really posted it, when posted on behalf of `author`.
    pub real_author: Option<AccountInfo>,
}

impl ChangeMessageInfo {
    /// Whether account `id` posted the message itself.
    pub fn posted_by(&self, id: u64) -> bool {
        let is = |a: &Option<AccountInfo>| a.as_ref().and_then(|a| a.account_id) == Some(id);
        is(&self.author) && (self.real_author.is_none() || is(&self.real_author))
    }
}
