//! CSV as the import reads it (RFC 4180): a quote opens a field only at its start, `""`
//! is a quote inside one, a quoted field may hold commas and line breaks, and records
//! whose fields are all empty are skipped. The import route reads files with
//! [`records`]; the operator CLI splits a file into batches with it and writes each
//! record back with [`encode`], so both count the same rows.

use crate::error::{Error, Result};

/// The records of `text`, each a list of fields.
pub fn records(text: &str) -> Result<Vec<Vec<String>>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if record.iter().any(|f| !f.is_empty()) {
                    records.push(std::mem::take(&mut record));
                } else {
                    record.clear();
                }
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(Error::invalid("body", "a quoted CSV field is not closed"));
    }
    record.push(field);
    if record.iter().any(|f| !f.is_empty()) {
        records.push(record);
    }
    Ok(records)
}

/// `fields` as one CSV record (no line break): a field is quoted when it holds a
/// comma, a quote or a line break, or begins with a quote.
pub fn encode<S: AsRef<str>>(fields: &[S]) -> String {
    fields
        .iter()
        .map(|field| {
            let field = field.as_ref();
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks_and_blank_records_are_skipped() {
        let text = "id,name\r\na,\"x, y\"\n,,\n\nb,\"two\nlines\"\nc,say \"hi\"\nd,\"q \"\"x\"\"\"";
        let parsed = records(text).unwrap();
        assert_eq!(
            parsed,
            vec![
                vec!["id", "name"],
                vec!["a", "x, y"],
                vec!["b", "two\nlines"],
                vec!["c", "say \"hi\""],
                vec!["d", "q \"x\""],
            ]
        );
        assert!(records("a,\"open").is_err());
    }

    #[test]
    fn an_encoded_record_reads_back_as_itself() {
        for fields in [
            vec!["plain", "", "x, y"],
            vec!["\"starts quoted", "two\nlines", "cr\r"],
            vec!["say \"hi\"", "a\"b"],
        ] {
            let line = encode(&fields);
            assert_eq!(records(&line).unwrap(), vec![fields.clone()], "{line:?}");
        }
    }
}
