//! The bundled plugins, linked into the binary.
//!
//! rustc links no crate that nothing references, and a plugin that is not linked
//! vanishes from the registry without a word: one line per bundled plugin keeps each in.
//! A binary of your own links its plugin crate the same way.

use netanalysis_example_plugins as _;
use netanalysis_http as _;
use netanalysis_jsonlog as _;
use netanalysis_tcp as _;

/// The plugins every `netanalysis` binary has, by name.
pub const BUNDLED: &[&str] = &["Example1", "Example2", "Example3", "HTTP", "JsonLog", "PortCounter", "TCP"];
