//! `confluence-hub inspect FILE.c1z [--json]`: what a c1z holds — a summary
//! table, or with `--json` the full listing in the shape of the `baton` CLI's
//! (fixtures/reference.listing.json), so the two diff cleanly.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use baton::c1z::{C1zReader, Summary};

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The c1z file.
    pub file: PathBuf,
    /// Print the full listing as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let reader = match C1zReader::open(&args.file) {
        Ok(reader) => reader,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut stdout = io::stdout().lock();
    let printed = if args.json {
        reader.listing().map(|listing| {
            listing
                .write_json(&mut stdout)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(stdout))
        })
    } else {
        reader
            .summary()
            .map(|summary| stdout.write_all(render(&summary).as_bytes()))
    };
    match printed {
        Ok(written) => {
            written?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn render(summary: &Summary) -> String {
    let frame = &summary.frame;
    let mut out = format!(
        "{}: {} bytes, c1z v1 (C1ZF), zstd window {}, checksum {}, content size {}; SQLite database {} bytes\n",
        summary.path.display(),
        summary.compressed_size,
        human_bytes(frame.window_size),
        if frame.has_checksum { "on" } else { "off" },
        frame
            .content_size
            .map_or("not recorded".to_owned(), |size| format!("{size} bytes")),
        summary.decoded_size,
    );

    out.push_str("\nsync runs\n");
    let runs: Vec<Vec<String>> = summary
        .sync_runs
        .iter()
        .map(|run| {
            let mut flags = Vec::new();
            if run.supports_diff {
                flags.push("supports_diff");
            }
            if run.grants_backfilled {
                flags.push("grants_backfilled");
            }
            vec![
                run.sync_id.clone(),
                run.sync_type.clone(),
                run.started_at.clone(),
                run.ended_at
                    .clone()
                    .unwrap_or_else(|| "(unfinished)".to_owned()),
                flags.join(","),
            ]
        })
        .collect();
    out.push_str(&table(
        &["SYNC ID", "TYPE", "STARTED", "ENDED", "FLAGS"],
        &runs,
        0,
    ));
    match &summary.selected_sync_id {
        Some(sync_id) => out.push_str(&format!("counts below are for sync {sync_id}\n")),
        None => out.push_str("no sync run recorded: counts below cover every row\n"),
    }

    out.push('\n');
    let mut rows: Vec<Vec<String>> = summary
        .per_type
        .iter()
        .map(|counts| {
            vec![
                counts.resource_type.clone(),
                counts.resources.to_string(),
                counts.entitlements.to_string(),
                counts.grants.to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "total".to_owned(),
        summary.resources.to_string(),
        summary.entitlements.to_string(),
        summary.grants.to_string(),
    ]);
    out.push_str(&table(
        &["RESOURCE TYPE", "RESOURCES", "ENTITLEMENTS", "GRANTS"],
        &rows,
        1,
    ));
    out.push_str(&format!(
        "\nresource types: {}; grants needing expansion: {}\n",
        summary.resource_types, summary.grants_needing_expansion
    ));
    out
}

/// Columns padded to their widest cell; columns from `numeric_from` on are
/// right-aligned.
fn table(header: &[&str], rows: &[Vec<String>], numeric_from: usize) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, &width))| {
                if column >= numeric_from && numeric_from > 0 {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn human_bytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const KIB: u64 = 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_names_left_and_numbers_right() {
        let rows = vec![
            vec!["user".to_owned(), "60".to_owned()],
            vec!["total".to_owned(), "1234".to_owned()],
        ];
        assert_eq!(
            table(&["TYPE", "RESOURCES"], &rows, 1),
            "  TYPE   RESOURCES\n  user          60\n  total       1234\n"
        );
    }

    #[test]
    fn window_sizes_read_in_binary_units() {
        assert_eq!(human_bytes(8 * 1024 * 1024), "8 MiB");
        assert_eq!(human_bytes(421_888), "412 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
