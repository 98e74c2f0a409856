//! The scanner: source bytes to tokens, on demand (the compiler asks for
//! one at a time, as clox's does).

/// The kinds of token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    // Single-character tokens.
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Comma,
    Dot,
    Minus,
    Plus,
    Semicolon,
    Slash,
    Star,
    // One or two character tokens.
    Bang,
    BangEqual,
    Equal,
    EqualEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    // Literals.
    Identifier,
    String,
    Number,
    // Keywords.
    And,
    Class,
    Else,
    False,
    For,
    Fun,
    If,
    Nil,
    Or,
    Print,
    Return,
    Super,
    This,
    True,
    Var,
    While,
    /// A scanning error: the lexeme is the message.
    Error,
    Eof,
}

/// A token: its kind, its text (or an error's message) and its line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token<'src> {
    pub(crate) kind: Kind,
    pub(crate) lexeme: &'src str,
    pub(crate) line: u32,
}

impl<'src> Token<'src> {
    /// A token made by the compiler, not read from the source (`this`,
    /// `super`).
    pub(crate) fn synthetic(lexeme: &'src str) -> Token<'src> {
        Token {
            kind: Kind::Identifier,
            lexeme,
            line: 0,
        }
    }
}

pub(crate) struct Scanner<'src> {
    source: &'src str,
    start: usize,
    current: usize,
    line: u32,
}

impl<'src> Scanner<'src> {
    pub(crate) fn new(source: &'src str) -> Self {
        // clox reads the source as a C string: it ends at the first NUL.
        let source = source.split('\0').next().unwrap_or("");
        Scanner {
            source,
            start: 0,
            current: 0,
            line: 1,
        }
    }

    pub(crate) fn scan_token(&mut self) -> Token<'src> {
        self.skip_whitespace();
        self.start = self.current;
        let Some(c) = self.advance() else {
            return self.make(Kind::Eof);
        };
        if is_alpha(c) {
            return self.identifier();
        }
        if c.is_ascii_digit() {
            return self.number();
        }
        let kind = match c {
            b'(' => Kind::LeftParen,
            b')' => Kind::RightParen,
            b'{' => Kind::LeftBrace,
            b'}' => Kind::RightBrace,
            b';' => Kind::Semicolon,
            b',' => Kind::Comma,
            b'.' => Kind::Dot,
            b'-' => Kind::Minus,
            b'+' => Kind::Plus,
            b'/' => Kind::Slash,
            b'*' => Kind::Star,
            b'!' => self.either(b'=', Kind::BangEqual, Kind::Bang),
            b'=' => self.either(b'=', Kind::EqualEqual, Kind::Equal),
            b'<' => self.either(b'=', Kind::LessEqual, Kind::Less),
            b'>' => self.either(b'=', Kind::GreaterEqual, Kind::Greater),
            b'"' => return self.string(),
            _ => return self.error("Unexpected character."),
        };
        self.make(kind)
    }

    fn peek(&self) -> Option<u8> {
        self.source.as_bytes().get(self.current).copied()
    }

    fn peek_next(&self) -> Option<u8> {
        self.source.as_bytes().get(self.current + 1).copied()
    }

    fn advance(&mut self) -> Option<u8> {
        let c = self.peek()?;
        // A multi-byte character is one unexpected character, not several.
        self.current += self.source[self.current..]
            .chars()
            .next()
            .map_or(1, char::len_utf8);
        Some(c)
    }

    fn either(&mut self, expected: u8, matched: Kind, otherwise: Kind) -> Kind {
        if self.peek() == Some(expected) {
            self.current += 1;
            matched
        } else {
            otherwise
        }
    }

    fn make(&self, kind: Kind) -> Token<'src> {
        Token {
            kind,
            lexeme: &self.source[self.start..self.current],
            line: self.line,
        }
    }

    fn error(&self, message: &'static str) -> Token<'src> {
        Token {
            kind: Kind::Error,
            lexeme: message,
            line: self.line,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\r' | b'\t' => self.current += 1,
                b'\n' => {
                    self.line += 1;
                    self.current += 1;
                }
                b'/' if self.peek_next() == Some(b'/') => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.current += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn string(&mut self) -> Token<'src> {
        while let Some(c) = self.peek() {
            if c == b'"' {
                break;
            }
            if c == b'\n' {
                self.line += 1;
            }
            self.current += 1;
        }
        if self.peek().is_none() {
            return self.error("Unterminated string.");
        }
        self.current += 1; // the closing quote
        self.make(Kind::String)
    }

    fn number(&mut self) -> Token<'src> {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.current += 1;
        }
        if self.peek() == Some(b'.') && self.peek_next().is_some_and(|c| c.is_ascii_digit()) {
            self.current += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.current += 1;
            }
        }
        self.make(Kind::Number)
    }

    fn identifier(&mut self) -> Token<'src> {
        while self
            .peek()
            .is_some_and(|c| is_alpha(c) || c.is_ascii_digit())
        {
            self.current += 1;
        }
        let kind = match &self.source[self.start..self.current] {
            "and" => Kind::And,
            "class" => Kind::Class,
            "else" => Kind::Else,
            "false" => Kind::False,
            "for" => Kind::For,
            "fun" => Kind::Fun,
            "if" => Kind::If,
            "nil" => Kind::Nil,
            "or" => Kind::Or,
            "print" => Kind::Print,
            "return" => Kind::Return,
            "super" => Kind::Super,
            "this" => Kind::This,
            "true" => Kind::True,
            "var" => Kind::Var,
            "while" => Kind::While,
            _ => Kind::Identifier,
        };
        self.make(kind)
    }
}

fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}
