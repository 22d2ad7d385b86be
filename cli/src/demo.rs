//! `defender-bridge demo`: the bundled sample records (examples/samples/) mapped to ECS and to
//! Sentinel rows, so a newcomer sees the output without a Defender tenant.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Args;
use defender_bridge::{Mapper, Options, Output, Target};

/// One sample record of each MDE API kind, written for this project (not customer data).
const SAMPLES: &[(&str, &str)] = &[
    ("alert", include_str!("../../examples/samples/alert.json")),
    (
        "machine",
        include_str!("../../examples/samples/machine.json"),
    ),
    (
        "machine action",
        include_str!("../../examples/samples/machine-action.json"),
    ),
    (
        "vulnerability",
        include_str!("../../examples/samples/vulnerability.json"),
    ),
];

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Only this target (ecs or sentinel); both when absent.
    #[arg(long = "to")]
    pub target: Option<String>,
}

pub fn run(args: DemoArgs) -> Result<ExitCode, String> {
    let targets: Vec<Target> = match &args.target {
        Some(t) => vec![t.parse()?],
        None => vec![Target::Ecs, Target::Sentinel],
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut errors = 0;
    for target in targets {
        let mapper = Mapper::new(Options {
            target,
            preserve_original_event: false,
            ..Options::default()
        });
        for (name, text) in SAMPLES {
            let _ = writeln!(out, "# {name} -> {target:?}");
            mapper.map_text(text, &mut |o: Output| {
                errors += o.is_error() as u32;
                let pretty = serde_json::to_string_pretty(&o.to_value()).unwrap_or_default();
                let _ = writeln!(out, "{pretty}");
            });
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
