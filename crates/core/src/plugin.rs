//! Plugin descriptors and the registry.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::config::{Config, ConfigError};
use crate::listener::{Listener, Position};

/// The type of a plugin option, checked before the plugin is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// `1`/`0`/`true`/`false`; a bare key means true.
    Bool,
    /// An unsigned integer, decimal or `0x` hex (`v=6`, `v=0x6`).
    Uint,
    /// A byte size: an integer with an optional `K`, `M`, `G` suffix (powers of 1024,
    /// `KiB`, `MiB`, `GiB` also accepted).
    Size,
    /// A duration in seconds: a number with an optional `s`, `m`, `h` suffix.
    Seconds,
    /// Free text.
    Text,
    /// A file or directory path.
    Path,
}

impl OptionKind {
    /// How the kind reads in `--list` and error messages.
    pub fn describe(self) -> &'static str {
        match self {
            OptionKind::Bool => "bool",
            OptionKind::Uint => "number",
            OptionKind::Size => "size",
            OptionKind::Seconds => "seconds",
            OptionKind::Text => "text",
            OptionKind::Path => "path",
        }
    }
}

/// One option a plugin accepts: what `--list` shows and what the parser checks.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The key, as written on the command line.
    pub name: &'static str,
    /// Its type.
    pub kind: OptionKind,
    /// Its default value, written as on the command line (`None`: unset).
    pub default: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

/// How a plugin builds its listener from a checked configuration.
pub type BuildFn = fn(&Config) -> Result<Box<dyn Listener>, ConfigError>;

/// A plugin descriptor, handed to `inventory` so the CLI can find it by name.
///
/// ```
/// use netanalysis_core::{Config, ConfigError, Listener, OptionKind, OptionSpec, Plugin};
///
/// struct Hello;
/// impl Listener for Hello {}
///
/// fn build(_cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
///     Ok(Box::new(Hello))
/// }
///
/// netanalysis_core::inventory::submit! {
///     Plugin {
///         name: "Hello",
///         summary: "says nothing, politely",
///         options: &[OptionSpec { name: "loud", kind: OptionKind::Bool, default: Some("0"), help: "shout" }],
///         build,
///         ..Plugin::DEFAULT
///     }
/// }
/// ```
#[derive(Clone, Copy)]
pub struct Plugin {
    /// The name the command line uses (`TCP`, `HTTP`, `PortCounter`).
    pub name: &'static str,
    /// One line for `--list`.
    pub summary: &'static str,
    /// A position claim, if any.
    pub position: Option<Position>,
    /// Plugins loaded before this one when it is named (the CLI adds them).
    pub requires: &'static [&'static str],
    /// The options it accepts.
    pub options: &'static [OptionSpec],
    /// Builds its listener.
    pub build: BuildFn,
}

fn build_nothing(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
    Err(ConfigError::Invalid { plugin: cfg.plugin().to_owned(), message: "this plugin cannot be built".into() })
}

impl Plugin {
    /// A descriptor with no name, options or position, for `..Plugin::DEFAULT`.
    pub const DEFAULT: Plugin =
        Plugin { name: "", summary: "", position: None, requires: &[], options: &[], build: build_nothing };

    /// The option called `key`.
    pub fn option(&self, key: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.name == key)
    }
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("position", &self.position)
            .field("options", &self.options.iter().map(|o| o.name).collect::<Vec<_>>())
            .finish()
    }
}

inventory::collect!(Plugin);

/// Errors while assembling the listener set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two listeners claimed the same position.
    #[error("{claimed_by} cannot take the {position} place: {held_by} already holds it")]
    PositionTaken {
        /// The position.
        position: Position,
        /// Who holds it.
        held_by: String,
        /// Who asked for it second.
        claimed_by: String,
    },
    /// Two plugins registered the same name.
    #[error("two plugins are registered as `{0}`")]
    DuplicateName(String),
}

/// The known plugins, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    plugins: BTreeMap<&'static str, &'static Plugin>,
}

impl Registry {
    /// A registry of exactly these plugins (tests use this; the CLI uses
    /// [`Registry::from_inventory`]).
    pub fn from_plugins(plugins: &[&'static Plugin]) -> Result<Registry, RegistryError> {
        let mut map = BTreeMap::new();
        for plugin in plugins {
            if map.insert(plugin.name, *plugin).is_some() {
                return Err(RegistryError::DuplicateName(plugin.name.to_owned()));
            }
        }
        Ok(Registry { plugins: map })
    }

    /// Every plugin linked into this binary.
    pub fn from_inventory() -> Result<Registry, RegistryError> {
        let all: Vec<&'static Plugin> = inventory::iter::<Plugin>.into_iter().collect();
        Registry::from_plugins(&all)
    }

    /// Plugins in name order.
    pub fn iter(&self) -> impl Iterator<Item = &'static Plugin> + '_ {
        self.plugins.values().copied()
    }

    /// The plugin called `name`; an exact match first, then a case-insensitive one.
    pub fn get(&self, name: &str) -> Result<&'static Plugin, ConfigError> {
        if let Some(plugin) = self.plugins.get(name) {
            return Ok(plugin);
        }
        if let Some(plugin) = self.plugins.values().find(|p| p.name.eq_ignore_ascii_case(name)) {
            return Ok(plugin);
        }
        let names: Vec<&str> = self.plugins.keys().copied().collect();
        Err(ConfigError::UnknownPlugin {
            name: name.to_owned(),
            suggestion: crate::config::nearest(name, &names),
            valid: names.join(", "),
        })
    }

    /// Parses and checks one `NAME,key=value,...` argument.
    pub fn parse(&self, spec: &str) -> Result<(&'static Plugin, Config), ConfigError> {
        let (name, rest) = match spec.split_once(',') {
            Some((name, rest)) => (name, Some(rest)),
            None => (spec, None),
        };
        let plugin = self.get(name.trim())?;
        let config = Config::parse(plugin, rest.unwrap_or(""))?;
        Ok((plugin, config))
    }

    /// The text of `--list`: every plugin with its summary and options.
    pub fn list_text(&self) -> String {
        let mut out = String::new();
        for plugin in self.iter() {
            let _ = write!(out, "{:<12} {}", plugin.name, plugin.summary);
            if let Some(position) = plugin.position {
                let _ = write!(out, " [{position}]");
            }
            out.push('\n');
            for option in plugin.options {
                let default = option.default.map(|d| format!(" (default {d})")).unwrap_or_default();
                let _ =
                    writeln!(out, "    {:<18} {:<8} {}{}", option.name, option.kind.describe(), option.help, default);
            }
        }
        out
    }
}
