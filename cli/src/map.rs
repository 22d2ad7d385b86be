//! `defender-bridge map`: a stream of JSON texts in, NDJSON out, a summary on stderr.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use defender_bridge::split::{Piece, Splitter};
use defender_bridge::{EcsIntegration, Kind, Mapper, Options, Output, Target};

#[derive(Args, Debug, Clone)]
pub struct MapArgs {
    /// Output shape: `ecs` (Elastic's integration documents) or `sentinel` (Log Analytics rows).
    #[arg(long = "to", default_value = "ecs", value_parser = parse_target)]
    pub target: Target,
    /// Record kind: `auto` detects each record's kind; or alert, machine, machine-action,
    /// vulnerability, event, graph-alert, incident.
    #[arg(long, default_value = "auto", value_parser = parse_kind)]
    pub kind: KindArg,
    /// Whose ECS output to reproduce where both Elastic integrations map a resource: mde or m365.
    #[arg(long = "ecs-integration", default_value = "mde", value_parser = parse_integration)]
    pub ecs_integration: EcsIntegration,
    /// Keep the source record in `event.original` (Elastic's preserve_original_event).
    #[arg(long)]
    pub preserve_original_event: bool,
    /// Keep vendor fields that were also copied to ECS fields (Elastic's
    /// preserve_duplicate_custom_fields).
    #[arg(long)]
    pub preserve_duplicate_custom_fields: bool,
    /// Sentinel: drop properties that are not columns of the table.
    #[arg(long)]
    pub strict_schema: bool,
    /// MaxMind GeoLite2/GeoIP2 City database: adds the `*.geo` fields Elastic's geoip processor
    /// adds (ECS target). Without it no geo fields are written.
    #[arg(long, value_name = "MMDB")]
    pub geoip_city: Option<PathBuf>,
    /// MaxMind GeoLite2 ASN database (with --geoip-city): adds `*.as` fields.
    #[arg(long, value_name = "MMDB", requires = "geoip_city")]
    pub geoip_asn: Option<PathBuf>,
    /// Input files; stdin when none (or `-`).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
pub struct KindArg(pub Option<Kind>);

fn parse_target(s: &str) -> Result<Target, String> {
    s.parse()
}
fn parse_integration(s: &str) -> Result<EcsIntegration, String> {
    s.parse()
}
fn parse_kind(s: &str) -> Result<KindArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        Ok(KindArg(None))
    } else {
        s.parse().map(|k| KindArg(Some(k)))
    }
}

impl MapArgs {
    pub fn options(&self) -> Options {
        Options {
            target: self.target,
            kind: self.kind.0,
            ecs_integration: self.ecs_integration,
            preserve_original_event: self.preserve_original_event,
            preserve_duplicate_custom_fields: self.preserve_duplicate_custom_fields,
            strict_schema: self.strict_schema,
            ..Options::default()
        }
    }
}

/// Counts for the summary line.
#[derive(Debug, Default)]
pub struct Counts {
    pub records_in: u64,
    pub docs_out: u64,
    pub errors: u64,
}

/// Maps one piece, appending its NDJSON lines to `lines`.
fn map_piece(mapper: &Mapper, piece: Piece<'_>, lines: &mut Vec<u8>, counts: &mut Counts) {
    counts.records_in += 1;
    mapper.map_piece(piece, &mut |o: Output| {
        if o.is_error() {
            counts.errors += 1;
        } else {
            counts.docs_out += 1;
        }
        lines.extend_from_slice(o.as_bytes());
        lines.push(b'\n');
    });
}

/// Maps everything `reader` yields to NDJSON on `out`, writing and flushing after each chunk so
/// that a streaming consumer (Vector's exec source, a pipe) sees records as they come.
pub fn map_stream(
    mapper: &Mapper,
    reader: &mut dyn Read,
    out: &mut dyn Write,
    counts: &mut Counts,
) -> io::Result<()> {
    let mut splitter = Splitter::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        splitter.feed(&buf[..n], &mut |p| map_piece(mapper, p, &mut lines, counts));
        out.write_all(&lines)?;
        lines.clear();
        out.flush()?;
    }
    splitter.finish(&mut |p| map_piece(mapper, p, &mut lines, counts));
    out.write_all(&lines)?;
    out.flush()
}

pub fn run(args: MapArgs) -> Result<ExitCode, String> {
    let mut options = args.options();
    if let Some(city) = &args.geoip_city {
        options.geo = Some(
            defender_bridge_geoip::MaxMind::open(city, args.geoip_asn.as_deref())?.into_lookup(),
        );
    }
    let mapper = Mapper::new(options);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut counts = Counts::default();
    let mut failed = false;
    let files = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    for path in &files {
        let result = if path.as_os_str() == "-" {
            map_stream(&mapper, &mut io::stdin().lock(), &mut out, &mut counts)
        } else {
            match File::open(path) {
                Ok(mut f) => map_stream(&mapper, &mut f, &mut out, &mut counts),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = result {
            if e.kind() == io::ErrorKind::BrokenPipe {
                break;
            }
            eprintln!("defender-bridge map: cannot read {}: {e}", path.display());
            failed = true;
        }
    }
    eprintln!(
        "defender-bridge map: {} records in, {} documents out, {} errors",
        counts.records_in, counts.docs_out, counts.errors
    );
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
