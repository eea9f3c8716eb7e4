//! Plugin arguments: the original's `NAME,key=value,key2` syntax and every way it can be wrong.

use netanalysis_core::{Config, ConfigError, Listener, OptionKind, OptionSpec, Plugin, Registry, RegistryError};

struct Nothing;
impl Listener for Nothing {}

fn build(_cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
    Ok(Box::new(Nothing))
}

static GREP: Plugin = Plugin {
    name: "Example2",
    summary: "one line per monologue",
    options: &[
        OptionSpec { name: "regex", kind: OptionKind::Text, default: None, help: "grep the data" },
        OptionSpec { name: "v", kind: OptionKind::Uint, default: Some("0"), help: "verbosity bitmask" },
        OptionSpec { name: "decode", kind: OptionKind::Bool, default: Some("0"), help: "decode bodies" },
        OptionSpec { name: "max_body", kind: OptionKind::Size, default: Some("1M"), help: "body cap" },
        OptionSpec { name: "idle_timeout", kind: OptionKind::Seconds, default: Some("300"), help: "idle" },
    ],
    build,
    ..Plugin::DEFAULT
};

static HTTP: Plugin = Plugin { name: "HTTP", summary: "http", build, ..Plugin::DEFAULT };

fn registry() -> Registry {
    Registry::from_plugins(&[&GREP, &HTTP]).unwrap()
}

fn parse(spec: &str) -> Result<Config, String> {
    registry().parse(spec).map(|(_, c)| c).map_err(|e| e.to_string())
}

#[test]
fn typed_values_and_defaults() {
    let cfg = parse("Example2,v=6,decode,max_body=64K,idle_timeout=5m").unwrap();
    assert_eq!(cfg.u64("v").unwrap(), Some(6));
    assert!(cfg.bool("decode").unwrap());
    assert_eq!(cfg.u64("max_body").unwrap(), Some(65536));
    assert_eq!(cfg.seconds("idle_timeout").unwrap(), Some(300.0));
    assert_eq!(cfg.text("regex").unwrap(), None);
    assert!(cfg.is_given("v") && !cfg.is_given("regex"));

    let cfg = parse("Example2").unwrap();
    assert_eq!(cfg.u64("v").unwrap(), Some(0));
    assert_eq!(cfg.u64("max_body").unwrap(), Some(1 << 20));
    assert!(!cfg.bool("decode").unwrap());
    assert_eq!(parse("Example2,v=0x6").unwrap().u64("v").unwrap(), Some(6));
    assert!(!parse("Example2,decode=false").unwrap().bool("decode").unwrap());
}

#[test]
fn quoted_values_hold_commas_and_quotes() {
    let cfg = parse(r#"Example2,regex="a{1,3}",v=2"#).unwrap();
    assert_eq!(cfg.text("regex").unwrap(), Some("a{1,3}"));
    assert_eq!(cfg.u64("v").unwrap(), Some(2));
    let cfg = parse(r#"Example2,regex="say \"hi\", then go""#).unwrap();
    assert_eq!(cfg.text("regex").unwrap(), Some(r#"say "hi", then go"#));
    // Unquoted values may contain '=' after the first one.
    assert_eq!(parse("Example2,regex=a=b").unwrap().text("regex").unwrap(), Some("a=b"));
}

#[test]
fn plugin_names_match_case_insensitively() {
    assert_eq!(registry().parse("http").unwrap().0.name, "HTTP");
}

#[test]
fn unknown_plugin_lists_valid_names_and_suggests_the_nearest() {
    assert_eq!(
        parse("HTPT,v=1").unwrap_err(),
        "unknown plugin `HTPT` (did you mean `HTTP`?); valid plugins: Example2, HTTP"
    );
    assert_eq!(parse("Zzzzzzzz").unwrap_err(), "unknown plugin `Zzzzzzzz`; valid plugins: Example2, HTTP");
}

#[test]
fn unknown_key_lists_valid_keys_and_suggests_the_nearest() {
    assert_eq!(
        parse("Example2,regx=foo").unwrap_err(),
        "Example2 has no option `regx` (did you mean `regex`?); valid options: regex, v, decode, max_body, idle_timeout"
    );
    assert_eq!(parse("HTTP,v=1").unwrap_err(), "HTTP has no option `v`; valid options: none");
}

#[test]
fn ill_typed_values_say_what_is_expected() {
    assert_eq!(parse("Example2,v=lots").unwrap_err(), "Example2: `v=lots` is not a valid number (e.g. 5 or 0x6)");
    assert_eq!(
        parse("Example2,decode=maybe").unwrap_err(),
        "Example2: `decode=maybe` is not a valid bool (use 1, 0, true or false)"
    );
    assert_eq!(
        parse("Example2,max_body=12Q").unwrap_err(),
        "Example2: `max_body=12Q` is not a valid size (bytes, e.g. 65536, 64K, 64M or 1G)"
    );
    assert_eq!(
        parse("Example2,idle_timeout=-3").unwrap_err(),
        "Example2: `idle_timeout=-3` is not a valid seconds (seconds, e.g. 300, 2.5, 5m or 1h)"
    );
}

#[test]
fn a_bare_key_is_only_for_booleans() {
    assert_eq!(
        parse("Example2,v").unwrap_err(),
        "Example2: option `v` needs a value (v=...): it is a number, not a flag"
    );
}

#[test]
fn syntax_errors_are_named() {
    assert_eq!(
        parse(r#"Example2,regex="open"#).unwrap_err(),
        r#"Example2: cannot read `regex="open`: a double quote is not closed"#
    );
    assert_eq!(
        parse(r#"Example2,regex="a"b"#).unwrap_err(),
        r#"Example2: cannot read `regex="a"b`: text follows a closing quote; put the whole value in quotes"#
    );
    assert_eq!(parse("Example2,=3").unwrap_err(), "Example2: cannot read `=3`: an option has no name");
    assert_eq!(parse("Example2,v=1,v=2").unwrap_err(), "Example2: option `v` is given twice");
}

#[test]
fn duplicate_plugin_names_are_refused() {
    assert_eq!(Registry::from_plugins(&[&HTTP, &HTTP]).unwrap_err(), RegistryError::DuplicateName("HTTP".into()));
}

#[test]
fn config_displays_as_it_would_be_written() {
    assert_eq!(parse(r#"Example2,v=2,regex="a,b""#).unwrap().to_string(), r#"Example2,regex="a,b",v=2"#);
}
