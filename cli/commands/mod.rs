//! One module per subcommand: its clap arguments, help text and examples,
//! and how they become the options of its `perfkit_ops` function.

pub mod collect;
pub mod compare;
pub mod demo;
pub mod ingest;
pub mod ls;
pub mod repair;
pub mod review;
pub mod scaffold;
pub mod site;
pub mod suspects;
