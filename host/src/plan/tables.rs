//! `[tables.NAME]` checked and read once, so that `sluice check` and the
//! start refuse a table that does not read.

use crate::batch::{RecordType, ValueType};
use crate::config::{LoadedFile, TableConfig, TableFormat};
use crate::error::ConfigError;
use crate::table::{DEFAULT_MAX_TABLE_MIB, Table, TableSpec};

/// Table `name`, checked and read.
pub(super) fn load_table(
    file: &LoadedFile,
    name: &str,
    cfg: &TableConfig,
) -> Result<Table, ConfigError> {
    let error = |span: std::ops::Range<usize>, message: String| {
        file.error_at(span, format!("table `{name}`: {message}"))
    };
    let key = cfg
        .key_type
        .as_ref()
        .map_or(ValueType::Text, |t| (*t.get_ref()).into());
    if key == ValueType::Json {
        let span = cfg.key_type.as_ref().map_or(0..0, |t| t.span());
        return Err(error(
            span,
            "`key_type` is text, int64 or float64: keys are compared by their bytes, and JSON has many spellings of one value".into(),
        ));
    }
    let value = match (&cfg.value, &cfg.value_type) {
        (None, Some(t)) if *t.get_ref() != crate::config::TableType::Json => {
            return Err(error(
                t.span(),
                "without `value`, a record's value is its whole row, a JSON object; name the column or field in `value` to give it another type".into(),
            ));
        }
        (_, Some(t)) => (*t.get_ref()).into(),
        (Some(_), None) if *cfg.format.get_ref() == TableFormat::Csv => ValueType::Text,
        _ => ValueType::Json,
    };
    let max_mib = match &cfg.max_mib {
        Some(m) => crate::bounds::max_mib::check(*m.get_ref())
            .map_err(|message| error(m.span(), message))?,
        None => DEFAULT_MAX_TABLE_MIB,
    };
    let spec = TableSpec {
        name: name.to_owned(),
        path: file.resolve(cfg.path.get_ref()),
        format: *cfg.format.get_ref(),
        key: cfg.key.get_ref().clone(),
        value: cfg.value.as_ref().map(|v| v.get_ref().clone()),
        record_type: RecordType {
            key: Some(key),
            value,
        },
        max_bytes: max_mib << 20,
    };
    Table::load(spec).map_err(|message| error(cfg.path.span(), message))
}
