//! A plugin of your own, on the netanalysis command line.
//!
//! Defines `BigMonologues`, a listener that prints every TCP monologue of at least
//! `min` bytes, registers it with the plugin registry, and hands `main` to the CLI: the
//! plugin then shows in `--list` and loads by name like the bundled ones.
//!
//! ```text
//! cargo run --example custom_plugin -- --list
//! cargo run --example custom_plugin -- BigMonologues,min=1000 captures/http-sample.pcap
//! ```

use netanalysis_core::{
    inventory, AnyEvent, Config, ConfigError, Context, Listener, ListenerResult, OptionKind, OptionSpec, Plugin,
    Subscriptions,
};
use netanalysis_tcp::TcpMonologue;

struct BigMonologues {
    min: u64,
}

impl Listener for BigMonologues {
    fn subscribe(&self, subs: &mut Subscriptions) {
        // Only the lengths are read: TCP need not keep the bytes for this plugin.
        subs.event_without_bytes::<TcpMonologue>();
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(mono) = event.downcast_ref::<TcpMonologue>() {
            if mono.data.len() >= self.min {
                ctx.trace(format_args!("{} {} -> {}: {} bytes", mono.t_start, mono.from, mono.to, mono.data.len()))?;
            }
        }
        Ok(())
    }
}

fn build(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
    Ok(Box::new(BigMonologues { min: cfg.u64("min")?.unwrap_or(0) }))
}

inventory::submit! {
    Plugin {
        name: "BigMonologues",
        summary: "prints each TCP monologue of at least `min` bytes",
        options: &[OptionSpec { name: "min", kind: OptionKind::Size, default: Some("1K"), help: "smallest monologue shown" }],
        build,
        ..Plugin::DEFAULT
    }
}

fn main() -> std::process::ExitCode {
    netanalysis_cli::main()
}
