//! Plugin configuration: the original's `NAME,key=value,key2` syntax, checked against
//! each plugin's [`OptionSpec`]s before the plugin is built.
//!
//! Values may be wrapped in double quotes to hold commas (`regex="a{1,3}"`; `\"` inside
//! quotes is a literal quote). A bare key is allowed only for boolean options and means
//! true; booleans accept `1`, `0`, `true`, `false`.

use std::fmt;

use crate::plugin::{OptionKind, OptionSpec, Plugin};

/// A checked option value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A number, size (bytes) or integer count.
    Uint(u64),
    /// A duration in seconds.
    Seconds(f64),
    /// Text or a path.
    Text(String),
}

/// Why a plugin argument was refused. Each message is one line that names what is
/// valid and, where one is close, suggests it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// No plugin has this name.
    #[error("unknown plugin `{name}`{}; valid plugins: {valid}", did_you_mean(.suggestion))]
    UnknownPlugin {
        /// The name given.
        name: String,
        /// The nearest valid name, if one is close.
        suggestion: Option<String>,
        /// All valid names.
        valid: String,
    },
    /// The plugin has no option of this name.
    #[error("{plugin} has no option `{key}`{}; valid options: {valid}", did_you_mean(.suggestion))]
    UnknownKey {
        /// The plugin.
        plugin: String,
        /// The key given.
        key: String,
        /// The nearest valid key, if one is close.
        suggestion: Option<String>,
        /// All valid keys.
        valid: String,
    },
    /// The value does not have the option's type.
    #[error("{plugin}: `{key}={value}` is not a valid {expected} ({example})")]
    BadValue {
        /// The plugin.
        plugin: String,
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// The option's type.
        expected: &'static str,
        /// What a valid value looks like.
        example: &'static str,
    },
    /// A bare key for an option that is not boolean.
    #[error("{plugin}: option `{key}` needs a value ({key}=...): it is a {expected}, not a flag")]
    MissingValue {
        /// The plugin.
        plugin: String,
        /// The key.
        key: String,
        /// The option's type.
        expected: &'static str,
    },
    /// The same key twice.
    #[error("{plugin}: option `{key}` is given twice")]
    Repeated {
        /// The plugin.
        plugin: String,
        /// The key.
        key: String,
    },
    /// The argument could not be split into options.
    #[error("{plugin}: cannot read `{text}`: {problem}")]
    Syntax {
        /// The plugin.
        plugin: String,
        /// The text.
        text: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The plugin refused a well-typed value (a regex that does not compile, say).
    #[error("{plugin}: {message}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin asked for an option it did not declare, or with the wrong type (a bug
    /// in the plugin, not in the user's input).
    #[error("{plugin}: internal error: option `{key}` is not declared as {expected}")]
    Undeclared {
        /// The plugin.
        plugin: String,
        /// The key asked for.
        key: String,
        /// The type asked for.
        expected: &'static str,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// The candidate closest to `given`, if it is close enough to be a plausible typo.
pub(crate) fn nearest(given: &str, candidates: &[&str]) -> Option<String> {
    let given_lower = given.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&given_lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

/// A plugin's checked options: every declared option, with the given value or its default.
#[derive(Debug, Clone)]
pub struct Config {
    plugin: &'static str,
    values: Vec<(&'static OptionSpec, Option<Value>, bool)>,
}

impl Config {
    /// Splits `text` (the part after `NAME,`) into `key=value` items and checks each
    /// against `plugin`'s options.
    pub fn parse(plugin: &'static Plugin, text: &str) -> Result<Config, ConfigError> {
        let mut values: Vec<(&'static OptionSpec, Option<Value>, bool)> = Vec::with_capacity(plugin.options.len());
        for spec in plugin.options {
            let default = match spec.default {
                Some(d) => Some(parse_value(plugin.name, spec, d)?),
                None => None,
            };
            values.push((spec, default, false));
        }
        for item in split_items(plugin.name, text)? {
            let (key, raw) = match item {
                (key, Some(value)) => (key, Some(value)),
                (key, None) => (key, None),
            };
            let Some(position) = plugin.options.iter().position(|o| o.name == key) else {
                let names: Vec<&str> = plugin.options.iter().map(|o| o.name).collect();
                return Err(ConfigError::UnknownKey {
                    plugin: plugin.name.to_owned(),
                    key: key.clone(),
                    suggestion: nearest(&key, &names),
                    valid: if names.is_empty() { "none".to_owned() } else { names.join(", ") },
                });
            };
            let spec = &plugin.options[position];
            if values[position].2 {
                return Err(ConfigError::Repeated { plugin: plugin.name.to_owned(), key });
            }
            let value = match raw {
                Some(raw) => parse_value(plugin.name, spec, &raw)?,
                None if spec.kind == OptionKind::Bool => Value::Bool(true),
                None => {
                    return Err(ConfigError::MissingValue {
                        plugin: plugin.name.to_owned(),
                        key,
                        expected: spec.kind.describe(),
                    })
                }
            };
            values[position] = (spec, Some(value), true);
        }
        Ok(Config { plugin: plugin.name, values })
    }

    /// The plugin this configures.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    fn lookup(&self, key: &str, expected: &'static str) -> Result<&Option<Value>, ConfigError> {
        self.values
            .iter()
            .find(|(spec, _, _)| spec.name == key)
            .map(|(_, v, _)| v)
            .ok_or_else(|| ConfigError::Undeclared { plugin: self.plugin.to_owned(), key: key.to_owned(), expected })
    }

    fn undeclared(&self, key: &str, expected: &'static str) -> ConfigError {
        ConfigError::Undeclared { plugin: self.plugin.to_owned(), key: key.to_owned(), expected }
    }

    /// A boolean option (false when unset without a default).
    pub fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match self.lookup(key, "bool")? {
            Some(Value::Bool(b)) => Ok(*b),
            None => Ok(false),
            Some(_) => Err(self.undeclared(key, "bool")),
        }
    }

    /// A number or size option (`None` when unset without a default).
    pub fn u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.lookup(key, "number")? {
            Some(Value::Uint(n)) => Ok(Some(*n)),
            None => Ok(None),
            Some(_) => Err(self.undeclared(key, "number")),
        }
    }

    /// A seconds option (`None` when unset without a default).
    pub fn seconds(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.lookup(key, "seconds")? {
            Some(Value::Seconds(s)) => Ok(Some(*s)),
            None => Ok(None),
            Some(_) => Err(self.undeclared(key, "seconds")),
        }
    }

    /// A text or path option (`None` when unset without a default).
    pub fn text(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.lookup(key, "text")? {
            Some(Value::Text(s)) => Ok(Some(s.as_str())),
            None => Ok(None),
            Some(_) => Err(self.undeclared(key, "text")),
        }
    }

    /// Whether the option was given on the command line (rather than defaulted).
    pub fn is_given(&self, key: &str) -> bool {
        self.values.iter().any(|(spec, _, given)| spec.name == key && *given)
    }

    /// A plugin-specific refusal of a value, for `build` functions.
    pub fn invalid(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { plugin: self.plugin.to_owned(), message: message.into() }
    }
}

impl fmt::Display for Config {
    /// The configuration as it would be written on the command line (given options only).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.plugin)?;
        for (spec, value, given) in &self.values {
            if !*given {
                continue;
            }
            match value {
                Some(Value::Bool(b)) => write!(f, ",{}={}", spec.name, u8::from(*b))?,
                Some(Value::Uint(n)) => write!(f, ",{}={}", spec.name, n)?,
                Some(Value::Seconds(s)) => write!(f, ",{}={}", spec.name, s)?,
                Some(Value::Text(t)) => write!(f, ",{}=\"{}\"", spec.name, t.replace('"', "\\\""))?,
                None => {}
            }
        }
        Ok(())
    }
}

/// Splits `a=1,b,"c"="x,y"` into `(key, value)` items, honouring double quotes.
fn split_items(plugin: &str, text: &str) -> Result<Vec<(String, Option<String>)>, ConfigError> {
    let syntax = |problem| ConfigError::Syntax { plugin: plugin.to_owned(), text: text.to_owned(), problem };
    let mut items = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut key = String::new();
        let mut value: Option<String> = None;
        // Key: up to '=' or ','.
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.peek() == Some(&'=') {
            chars.next();
            let mut v = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if chars.peek() == Some(&'"') || chars.peek() == Some(&'\\') => {
                            // An escaped quote or backslash inside quotes.
                            if let Some(escaped) = chars.next() {
                                v.push(escaped);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => v.push(c),
                    }
                }
                if !closed {
                    return Err(syntax("a double quote is not closed"));
                }
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err(syntax("text follows a closing quote; put the whole value in quotes"));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    v.push(c);
                    chars.next();
                }
            }
            value = Some(v);
        }
        let key = key.trim().to_owned();
        if key.is_empty() {
            if value.is_some() || chars.peek() == Some(&',') {
                return Err(syntax("an option has no name"));
            }
        } else {
            items.push((key, value));
        }
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(_) => return Err(syntax("unexpected character")),
        }
    }
    Ok(items)
}

fn parse_value(plugin: &str, spec: &OptionSpec, raw: &str) -> Result<Value, ConfigError> {
    let bad = |example: &'static str| ConfigError::BadValue {
        plugin: plugin.to_owned(),
        key: spec.name.to_owned(),
        value: raw.to_owned(),
        expected: spec.kind.describe(),
        example,
    };
    let trimmed = raw.trim();
    Ok(match spec.kind {
        OptionKind::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Value::Bool(true),
            "0" | "false" | "no" | "off" => Value::Bool(false),
            _ => return Err(bad("use 1, 0, true or false")),
        },
        OptionKind::Uint => Value::Uint(parse_uint(trimmed).ok_or_else(|| bad("e.g. 5 or 0x6"))?),
        OptionKind::Size => Value::Uint(parse_size(trimmed).ok_or_else(|| bad("bytes, e.g. 65536, 64K, 64M or 1G"))?),
        OptionKind::Seconds => {
            Value::Seconds(parse_seconds(trimmed).ok_or_else(|| bad("seconds, e.g. 300, 2.5, 5m or 1h"))?)
        }
        OptionKind::Text | OptionKind::Path => Value::Text(raw.to_owned()),
    })
}

fn parse_uint(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, multiplier) = [
        ("kib", 1u64 << 10),
        ("mib", 1 << 20),
        ("gib", 1 << 30),
        ("k", 1 << 10),
        ("m", 1 << 20),
        ("g", 1 << 30),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| lower.strip_suffix(suffix).map(|d| (d.trim().to_owned(), *m)))
    .unwrap_or((lower.clone(), 1));
    parse_uint(&digits)?.checked_mul(multiplier)
}

fn parse_seconds(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (number, multiplier) = if let Some(n) = lower.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = lower.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = lower.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (lower.as_str(), 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * multiplier)
}
