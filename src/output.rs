//! Writing a result as CSV, a table or JSON, to stdout or to a file.
//!
//! Every report is a list of one serde type, so the three formats cannot disagree about
//! which fields exist or in what order: CSV takes its header from the field names, the table
//! its columns, and JSON its keys. A file named with `--out` is written beside its final
//! place and renamed only when complete, so a failed or interrupted run never leaves a
//! truncated report that looks whole.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use serde_json::Value;

use crate::cli::Format;
use crate::error::{Error, Result};

/// Version of the JSON documents govctl writes; raised when a field changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 1;

/// A report row. `COLUMNS` are the serialized field names in order; they head the CSV and
/// the table, and a test per row type checks them against what serde writes.
pub trait Row: Serialize {
    const COLUMNS: &'static [&'static str];
}

#[derive(Serialize)]
struct Document<'a, T> {
    schema_version: u32,
    kind: &'a str,
    /// Present and true only when some of the data could not be read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    partial: bool,
    /// What could not be read, when `partial`.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    missing: &'a [String],
    rows: &'a [T],
}

/// Writes `rows` in `format` to `out`, or to stdout when `out` is `None`.
///
/// `kind` names the document in JSON output (for example `layers_report`).
pub fn emit<T: Row>(rows: &[T], format: Format, kind: &str, out: Option<&Path>) -> Result<()> {
    emit_partial(rows, format, kind, out, &[])
}

/// Like [`emit`], for a result that lacks what `missing` names; JSON marks it partial.
/// (CSV and tables have no place for the mark: the command says it on stderr and exits 1.)
pub fn emit_partial<T: Row>(
    rows: &[T],
    format: Format,
    kind: &str,
    out: Option<&Path>,
    missing: &[String],
) -> Result<()> {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        kind,
        partial: !missing.is_empty(),
        missing,
        rows,
    };
    match out {
        None => {
            let stdout = io::stdout();
            let mut writer = BufWriter::new(stdout.lock());
            render(&document, format, &mut writer)?;
            writer.flush()?;
            Ok(())
        }
        Some(path) => write_file(path, |writer| render(&document, format, writer)),
    }
}

fn render<T: Row>(
    document: &Document<'_, T>,
    format: Format,
    writer: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Csv => write_csv(document.rows, writer),
        Format::Json => write_json(document, writer),
        Format::Table => write_table(document.rows, writer),
    }
}

fn write_csv<T: Row>(rows: &[T], writer: &mut dyn Write) -> Result<()> {
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .has_headers(false)
        .from_writer(writer);
    csv.write_record(T::COLUMNS).map_err(csv_error)?;
    for row in rows {
        csv.serialize(row).map_err(csv_error)?;
    }
    csv.flush()?;
    Ok(())
}

fn write_json<T: Row>(document: &Document<'_, T>, writer: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *writer, document).map_err(json_error)?;
    writer.write_all(b"\n")?;
    Ok(())
}

fn write_table<T: Row>(rows: &[T], writer: &mut dyn Write) -> Result<()> {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(T::COLUMNS);
    for row in rows {
        let cells: Vec<String> = match serde_json::to_value(row).map_err(json_error)? {
            Value::Object(fields) => fields.values().map(cell).collect(),
            other => vec![cell(&other)],
        };
        table.add_row(cells);
    }
    writeln!(writer, "{table}")?;
    Ok(())
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_error(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::Output(io),
        other => Error::Encode(format!("{other:?}")),
    }
}

fn json_error(e: serde_json::Error) -> Error {
    if e.is_io() {
        Error::Output(io::Error::from(e))
    } else {
        Error::Encode(e.to_string())
    }
}

/// Fails early, before any AWS call, when `path` could not be written at the end.
pub fn check_destination(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    let problem = if path.is_dir() {
        Some("it is a directory")
    } else if !dir.is_dir() {
        Some("its directory does not exist")
    } else {
        None
    };
    match problem {
        Some(reason) => Err(Error::Write {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotFound, reason),
        }),
        None => Ok(()),
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes a file so that it either appears complete or not at all.
pub fn write_file(path: &Path, body: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let write_error = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = parent_dir(path);
    let temp = tempfile::Builder::new()
        .prefix(".govctl-")
        .tempfile_in(&dir)
        .map_err(write_error)?;
    let mut writer = BufWriter::new(temp);
    body(&mut writer).map_err(|e| match e {
        Error::Output(io) => write_error(io),
        other => other,
    })?;
    let temp = writer
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

/// The keys `row` serializes to, in order: what `Row::COLUMNS` must equal.
pub fn serialized_keys<T: Row>(row: &T) -> Vec<String> {
    match serde_json::to_value(row) {
        Ok(Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}
