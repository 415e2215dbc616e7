//! The `date` filter, extended to what events carry: unix seconds (`event.timestamp`) and ISO 8601
//! (`event.datetime`, `2024-02-21T23:45:15.228Z`, or `+00:00` offsets). Everything else behaves as
//! the `liquid` crate's `date`: an input it cannot read as a date is written unchanged.

use std::fmt;

use liquid_core::model::{DateTime, Value, ValueView};
use liquid_core::parser::{FilterArguments, FilterReflection, ParameterReflection, ParseFilter};
use liquid_core::runtime::Runtime;
use liquid_core::{Error, Expression, Filter, Result};

#[derive(Clone, Copy, Debug)]
pub struct DateParser;

const PARAMETERS: &[ParameterReflection] = &[ParameterReflection {
    name: "format",
    description: "The strftime format, like \"%Y-%m-%d\".",
    is_optional: false,
}];

impl FilterReflection for DateParser {
    fn name(&self) -> &str {
        "date"
    }

    fn description(&self) -> &str {
        "Formats a date, a unix timestamp or an ISO 8601 time with a strftime format."
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        PARAMETERS
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for DateParser {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let Some(format) = arguments.positional.next() else {
            return Err(Error::with_msg(
                "the `date` filter needs a format, like date: \"%Y-%m-%d\"",
            ));
        };
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(Error::with_msg(
                "the `date` filter takes one argument, the format",
            ));
        }
        Ok(Box::new(DateFilter { format }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct DateFilter {
    format: Expression,
}

impl fmt::Display for DateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "date: {}", self.format)
    }
}

/// `2024-02-21T23:45:15.228Z` or `…+01:00` in the form liquid's `DateTime` parses
/// (`2024-02-21 23:45:15.228 +0000`).
fn iso8601_to_liquid(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if bytes.len() < 20 || bytes[10] != b'T' || !s.is_ascii() {
        return None;
    }
    let (time, offset) = if let Some(time) = s.strip_suffix(['Z', 'z']) {
        (time, "+0000".to_owned())
    } else {
        let (time, offset) = s.split_at(s.len() - 6);
        let o = offset.as_bytes();
        if !matches!(o[0], b'+' | b'-') || o[3] != b':' {
            return None;
        }
        (time, format!("{}{}", &offset[..3], &offset[4..]))
    };
    Some(format!("{} {} {offset}", &time[..10], &time[11..]))
}

fn to_date_time(input: &dyn ValueView) -> Option<DateTime> {
    let scalar = input.as_scalar()?;
    if scalar.type_name() == "whole number" {
        return DateTime::from_str(&scalar.to_integer()?.to_string());
    }
    let text = scalar.to_kstr();
    iso8601_to_liquid(&text)
        .and_then(|s| DateTime::from_str(&s))
        .or_else(|| scalar.to_date_time())
}

impl Filter for DateFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let format = self.format.evaluate(runtime)?.to_kstr().into_owned();
        match to_date_time(input) {
            Some(date) if !format.is_empty() => date
                .format(format.as_str())
                .map(Value::scalar)
                .map_err(|_| Error::with_msg(format!("invalid date format {format:?}"))),
            _ => Ok(input.to_value()),
        }
    }
}
