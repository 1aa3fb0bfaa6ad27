//! Filters on the measures of report rows (R-61): a small typed predicate language, with a
//! text form for APIs and consoles, e.g. `no_conversation > 0 and avg_total < 10s`.
//!
//! Grammar (keywords and measures in lower case; `not` binds tighter than `and`, which binds
//! tighter than `or`):
//! ```text
//! filter    := and ("or" and)*
//! and       := factor ("and" factor)*
//! factor    := "not" factor | "(" filter ")" | condition
//! condition := count_measure cmp integer | duration_measure cmp number unit
//! count_measure    := total | by_option | with_transfer | no_conversation | completed | re_pass
//! duration_measure := avg_total | avg_talk
//! cmp       := < | <= | = | == | != | >= | >
//! unit      := ms | s | min
//! ```
//! An average over no ended call has no value: every comparison with it is false (and so
//! `not` of one is true).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::report::Measures;

/// A measure that counts calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountMeasure {
    Total,
    ByOption,
    WithTransfer,
    NoConversation,
    Completed,
    RePass,
}

/// A measure that is an average duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationMeasure {
    AvgTotal,
    AvgTalk,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

/// A predicate on a row's measures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    Count {
        measure: CountMeasure,
        cmp: Cmp,
        value: u64,
    },
    Duration {
        measure: DurationMeasure,
        cmp: Cmp,
        /// Whole milliseconds: report durations are kept in milliseconds.
        value_ms: u64,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl CountMeasure {
    pub const ALL: [CountMeasure; 6] = [
        Self::Total,
        Self::ByOption,
        Self::WithTransfer,
        Self::NoConversation,
        Self::Completed,
        Self::RePass,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::ByOption => "by_option",
            Self::WithTransfer => "with_transfer",
            Self::NoConversation => "no_conversation",
            Self::Completed => "completed",
            Self::RePass => "re_pass",
        }
    }

    fn of(self, m: &Measures) -> u64 {
        match self {
            Self::Total => m.total,
            Self::ByOption => m.by_option,
            Self::WithTransfer => m.with_transfer,
            Self::NoConversation => m.no_conversation,
            Self::Completed => m.completed,
            Self::RePass => m.re_pass,
        }
    }
}

impl DurationMeasure {
    pub const ALL: [DurationMeasure; 2] = [Self::AvgTotal, Self::AvgTalk];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AvgTotal => "avg_total",
            Self::AvgTalk => "avg_talk",
        }
    }

    fn of(self, m: &Measures) -> Option<f64> {
        match self {
            Self::AvgTotal => m.avg_total_ms(),
            Self::AvgTalk => m.avg_talk_ms(),
        }
    }
}

impl Cmp {
    pub const ALL: [Cmp; 6] = [Self::Lt, Self::Le, Self::Eq, Self::Ne, Self::Ge, Self::Gt];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Ge => ">=",
            Self::Gt => ">",
        }
    }

    fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Eq => left == right,
            Self::Ne => left != right,
            Self::Ge => left >= right,
            Self::Gt => left > right,
        }
    }
}

impl Filter {
    pub fn count(measure: CountMeasure, cmp: Cmp, value: u64) -> Self {
        Self::Count {
            measure,
            cmp,
            value,
        }
    }

    /// A condition on an average duration (whole milliseconds of `value`).
    pub fn duration(measure: DurationMeasure, cmp: Cmp, value: Duration) -> Self {
        Self::Duration {
            measure,
            cmp,
            value_ms: u64::try_from(value.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub fn and(self, other: Filter) -> Self {
        Self::And(Box::new(self), Box::new(other))
    }

    pub fn or(self, other: Filter) -> Self {
        Self::Or(Box::new(self), Box::new(other))
    }

    pub fn negate(self) -> Self {
        Self::Not(Box::new(self))
    }

    /// Whether a row with these measures is kept.
    pub fn matches(&self, m: &Measures) -> bool {
        match self {
            Self::Count {
                measure,
                cmp,
                value,
            } => cmp.holds(measure.of(m), *value),
            Self::Duration {
                measure,
                cmp,
                value_ms,
            } => measure
                .of(m)
                .is_some_and(|avg| cmp.holds(avg, *value_ms as f64)),
            Self::And(a, b) => a.matches(m) && b.matches(m),
            Self::Or(a, b) => a.matches(m) || b.matches(m),
            Self::Not(a) => !a.matches(m),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Composite operands are parenthesised, so the text parses back to the same tree.
        fn operand(f: &mut fmt::Formatter<'_>, x: &Filter) -> fmt::Result {
            match x {
                Filter::And(..) | Filter::Or(..) => write!(f, "({x})"),
                _ => write!(f, "{x}"),
            }
        }
        match self {
            Self::Count {
                measure,
                cmp,
                value,
            } => write!(f, "{} {} {value}", measure.as_str(), cmp.as_str()),
            Self::Duration {
                measure,
                cmp,
                value_ms,
            } => write!(f, "{} {} {value_ms}ms", measure.as_str(), cmp.as_str()),
            Self::And(a, b) | Self::Or(a, b) => {
                let op = if matches!(self, Self::And(..)) {
                    "and"
                } else {
                    "or"
                };
                operand(f, a)?;
                write!(f, " {op} ")?;
                operand(f, b)
            }
            Self::Not(a) => {
                f.write_str("not ")?;
                operand(f, a)
            }
        }
    }
}

/// What is wrong with a filter's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the filter is empty")]
    Empty,
    #[error(
        "unknown measure {0:?}: one of total, by_option, with_transfer, no_conversation, \
         completed, re_pass, avg_total, avg_talk"
    )]
    UnknownMeasure(String),
    #[error("expected {expected} at byte {at}, found {found}")]
    Expected {
        expected: &'static str,
        found: String,
        at: usize,
    },
    #[error("{0:?} is not a whole number of calls")]
    BadCount(String),
    #[error("{0:?} is not a duration: a number followed by ms, s or min")]
    BadDuration(String),
    #[error("unexpected character {found:?} at byte {at}")]
    BadCharacter { found: char, at: usize },
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Number(String),
    Cmp(Cmp),
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) | Token::Number(w) => write!(f, "{w:?}"),
            Token::Cmp(c) => write!(f, "{:?}", c.as_str()),
            Token::Open => f.write_str("\"(\""),
            Token::Close => f.write_str("\")\""),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let mut take_while = |pred: fn(char) -> bool| {
            let mut s = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if !pred(c) {
                    break;
                }
                s.push(c);
                chars.next();
            }
            s
        };
        let token = match c {
            c if c.is_whitespace() => {
                take_while(char::is_whitespace);
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                Token::Word(take_while(|c| c.is_ascii_alphanumeric() || c == '_'))
            }
            c if c.is_ascii_digit() || c == '.' => {
                Token::Number(take_while(|c| c.is_ascii_digit() || c == '.'))
            }
            '<' | '>' | '=' | '!' => {
                let op = take_while(|c| matches!(c, '<' | '>' | '=' | '!'));
                let cmp = match op.as_str() {
                    "<" => Cmp::Lt,
                    "<=" => Cmp::Le,
                    "=" | "==" => Cmp::Eq,
                    "!=" | "<>" => Cmp::Ne,
                    ">=" => Cmp::Ge,
                    ">" => Cmp::Gt,
                    _ => {
                        return Err(FilterError::Expected {
                            expected: "a comparison (<, <=, =, !=, >=, >)",
                            found: format!("{op:?}"),
                            at,
                        });
                    }
                };
                Token::Cmp(cmp)
            }
            '(' => {
                chars.next();
                Token::Open
            }
            ')' => {
                chars.next();
                Token::Close
            }
            found => return Err(FilterError::BadCharacter { found, at }),
        };
        tokens.push((at, token));
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.next).map_or(self.len, |(at, _)| *at)
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.next).map(|(_, t)| t.clone());
        self.next += 1;
        t
    }

    fn expected(&self, expected: &'static str) -> FilterError {
        FilterError::Expected {
            expected,
            found: self
                .peek()
                .map_or_else(|| "the end".to_owned(), Token::to_string),
            at: self.at(),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        let is = matches!(self.peek(), Some(Token::Word(w)) if w == word);
        if is {
            self.next += 1;
        }
        is
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = left.or(self.and()?);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.factor()?;
        while self.keyword("and") {
            left = left.and(self.factor()?);
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            return Ok(self.factor()?.negate());
        }
        if self.peek() == Some(&Token::Open) {
            self.next += 1;
            let inner = self.or()?;
            if self.bump() != Some(Token::Close) {
                self.next -= 1;
                return Err(self.expected("\")\""));
            }
            return Ok(inner);
        }
        self.condition()
    }

    fn condition(&mut self) -> Result<Filter, FilterError> {
        let Some(Token::Word(name)) = self.peek().cloned() else {
            return Err(self.expected("a measure, \"not\" or \"(\""));
        };
        self.next += 1;
        let Some(Token::Cmp(cmp)) = self.peek().cloned() else {
            return Err(self.expected("a comparison (<, <=, =, !=, >=, >)"));
        };
        self.next += 1;
        let Some(Token::Number(number)) = self.peek().cloned() else {
            return Err(self.expected("a number"));
        };
        self.next += 1;
        if let Some(measure) = CountMeasure::ALL.into_iter().find(|m| m.as_str() == name) {
            let value = number
                .parse()
                .map_err(|_| FilterError::BadCount(number.clone()))?;
            return Ok(Filter::count(measure, cmp, value));
        }
        let Some(measure) = DurationMeasure::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
        else {
            return Err(FilterError::UnknownMeasure(name));
        };
        let unit = match self.peek() {
            Some(Token::Word(u)) if matches!(u.as_str(), "ms" | "s" | "min") => u.clone(),
            _ => return Err(FilterError::BadDuration(number)),
        };
        self.next += 1;
        let amount: f64 = number
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| FilterError::BadDuration(format!("{number}{unit}")))?;
        let ms = match unit.as_str() {
            "ms" => amount,
            "s" => amount * 1_000.0,
            _ => amount * 60_000.0,
        };
        Ok(Filter::Duration {
            measure,
            cmp,
            value_ms: ms.round() as u64,
        })
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err(FilterError::Empty);
        }
        let mut parser = Parser {
            tokens,
            next: 0,
            len: text.len(),
        };
        let filter = parser.or()?;
        if parser.peek().is_some() {
            return Err(parser.expected("\"and\", \"or\" or the end"));
        }
        Ok(filter)
    }
}
