//! Parsing: tokens to syntax. The options of `#[pyobject(...)]` become
//! [`Args`], the annotated item a [`syn::DeriveInput`].
//!
//! Nothing here judges whether the result makes sense (that is `check`). A
//! malformed option is reported and parsing resumes after the next comma, so
//! that every mistake in the attribute shows at once.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{DeriveInput, Error, Ident, LitBool, LitStr, Path, Token, Type};

use crate::ctxt::Ctxt;

/// The options' keywords (`crate` is Rust's own `Token![crate]`).
mod kw {
    syn::custom_keyword!(basic);
    syn::custom_keyword!(freelist);
    syn::custom_keyword!(gc);
    syn::custom_keyword!(item);
    syn::custom_keyword!(name);
    syn::custom_keyword!(new);
}

/// The options of `#[pyobject(...)]`, each given at most once.
#[derive(Default)]
pub(crate) struct Args {
    /// `basic`: a plain object, the default kind.
    pub(crate) basic: Option<kw::basic>,
    /// `gc`: an object tracked by the cycle collector.
    pub(crate) gc: Option<kw::gc>,
    /// `item = T`: the type of the items of a var-size object.
    pub(crate) item: Option<Type>,
    /// `name = "..."`: `tp_name`.
    pub(crate) name: Option<LitStr>,
    /// `crate = path`: where the runtime lives.
    pub(crate) krate: Option<Path>,
    /// `new = name` or `new = false`: the generated constructors' name, or none.
    pub(crate) new: Option<Constructors>,
    /// `freelist = N`: keep up to `N` freed objects per thread.
    pub(crate) freelist: Option<syn::LitInt>,
}

/// What `new = ...` asks for.
pub(crate) enum Constructors {
    /// `new = name`: `T::name` and, for a var type, `T::name_var`.
    Named(Ident),
    /// `new = false`: no constructors; `Py::new` and `Py::new_var` remain.
    Skipped,
}

/// One option, as written.
enum Opt {
    Basic(kw::basic),
    Gc(kw::gc),
    Item(kw::item, Type),
    Name(kw::name, LitStr),
    Crate(Token![crate], Path),
    New(kw::new, Constructors),
    Freelist(kw::freelist, syn::LitInt),
}

/// Parses the attribute's arguments, reporting each malformed or repeated
/// option to `cx` and keeping the others.
pub(crate) fn parse_args(cx: &Ctxt, tokens: TokenStream) -> Args {
    let parse_all = |input: ParseStream<'_>| -> syn::Result<Vec<Opt>> {
        let mut opts = Vec::new();
        while !input.is_empty() {
            match parse_opt(input) {
                Ok(opt) => opts.push(opt),
                Err(error) => {
                    cx.syn_error(error);
                    skip_past_comma(input)?;
                    continue;
                }
            }
            if !input.is_empty()
                && let Err(error) = input.parse::<Token![,]>()
            {
                cx.syn_error(error);
                skip_past_comma(input)?;
            }
        }
        Ok(opts)
    };
    let opts = match parse_all.parse2(tokens) {
        Ok(opts) => opts,
        Err(error) => {
            cx.syn_error(error);
            Vec::new()
        }
    };

    let mut args = Args::default();
    for opt in opts {
        match opt {
            Opt::Basic(kw) => set_once(cx, &mut args.basic, kw, kw, "basic"),
            Opt::Gc(kw) => set_once(cx, &mut args.gc, kw, kw, "gc"),
            Opt::Item(kw, ty) => set_once(cx, &mut args.item, ty, kw, "item"),
            Opt::Name(kw, name) => set_once(cx, &mut args.name, name, kw, "name"),
            Opt::Crate(kw, path) => set_once(cx, &mut args.krate, path, kw, "crate"),
            Opt::New(kw, new) => set_once(cx, &mut args.new, new, kw, "new"),
            Opt::Freelist(kw, n) => set_once(cx, &mut args.freelist, n, kw, "freelist"),
        }
    }
    args
}

/// Parses the item the attribute is on: a struct, or (for `check` to
/// refuse with a helpful message) an enum or a union.
pub(crate) fn parse_input(cx: &Ctxt, tokens: TokenStream) -> Option<DeriveInput> {
    match syn::parse2::<DeriveInput>(tokens) {
        Ok(input) => Some(input),
        Err(error) => {
            cx.syn_error(Error::new(
                error.span(),
                "#[pyobject] goes on a struct: `#[pyobject(basic)] struct Point { x: f64, y: f64 }`",
            ));
            None
        }
    }
}

fn parse_opt(input: ParseStream<'_>) -> syn::Result<Opt> {
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::basic) {
        let kw: kw::basic = input.parse()?;
        if !input.is_empty() && !input.peek(Token![,]) {
            return Err(input.error("`basic` takes no value: write `#[pyobject(basic)]`"));
        }
        Ok(Opt::Basic(kw))
    } else if lookahead.peek(kw::gc) {
        let kw: kw::gc = input.parse()?;
        if !input.is_empty() && !input.peek(Token![,]) {
            return Err(input.error("`gc` takes no value: write `#[pyobject(gc)]`"));
        }
        Ok(Opt::Gc(kw))
    } else if lookahead.peek(kw::item) {
        let kw: kw::item = input.parse()?;
        const HINT: &str = "`item` takes the type of one item: `item = u32`";
        parse_eq(input, HINT)?;
        let ty = input.parse().map_err(|e| Error::new(e.span(), HINT))?;
        Ok(Opt::Item(kw, ty))
    } else if lookahead.peek(kw::name) {
        let kw: kw::name = input.parse()?;
        const HINT: &str = "`name` takes a string literal: `name = \"Point\"`";
        parse_eq(input, HINT)?;
        let name = input.parse().map_err(|e| Error::new(e.span(), HINT))?;
        Ok(Opt::Name(kw, name))
    } else if lookahead.peek(Token![crate]) {
        let kw: Token![crate] = input.parse()?;
        const HINT: &str = "`crate` takes the path of the objimpl crate: `crate = ::objimpl`";
        parse_eq(input, HINT)?;
        if input.peek(LitStr) {
            return Err(input.error(
                "`crate` takes a path, not a string: write `crate = ::objimpl`, without quotes",
            ));
        }
        let path = input
            .call(Path::parse_mod_style)
            .map_err(|e| Error::new(e.span(), HINT))?;
        Ok(Opt::Crate(kw, path))
    } else if lookahead.peek(kw::freelist) {
        let kw: kw::freelist = input.parse()?;
        const HINT: &str = "`freelist` takes how many freed objects to keep per thread: \
                            `freelist = 32`";
        parse_eq(input, HINT)?;
        let n = input.parse().map_err(|e| Error::new(e.span(), HINT))?;
        Ok(Opt::Freelist(kw, n))
    } else if lookahead.peek(kw::new) {
        let kw: kw::new = input.parse()?;
        const HINT: &str = "`new` takes the constructor's name, or `false` for none: \
                            `new = create` or `new = false`";
        parse_eq(input, HINT)?;
        if input.peek(LitBool) {
            let flag: LitBool = input.parse()?;
            if flag.value {
                return Err(Error::new(
                    flag.span(),
                    "constructors are made by default: drop `new = true`, or name them: `new = create`",
                ));
            }
            return Ok(Opt::New(kw, Constructors::Skipped));
        }
        let name = input.parse().map_err(|e| Error::new(e.span(), HINT))?;
        Ok(Opt::New(kw, Constructors::Named(name)))
    } else {
        Err(unknown_option(input, lookahead.error()))
    }
}

/// The `=` after an option that takes a value, with `hint` if it is missing.
fn parse_eq(input: ParseStream<'_>, hint: &str) -> syn::Result<()> {
    input
        .parse::<Token![=]>()
        .map(drop)
        .map_err(|e| Error::new(e.span(), hint))
}

/// Adds "did you mean" to lookahead's "expected one of: ..." when the
/// unknown option is a near miss of a known one.
fn unknown_option(input: ParseStream<'_>, error: Error) -> Error {
    let Ok(ident) = input
        .fork()
        .call(<syn::Ident as syn::ext::IdentExt>::parse_any)
    else {
        return error;
    };
    let written = ident.to_string();
    let suggestion = match written.as_str() {
        "items" | "itemsize" | "var" | "varsize" | "var_size" => "did you mean `item = u32`?",
        "tp_name" | "typename" | "type_name" => "did you mean `name = \"...\"`?",
        "krate" | "crate_path" | "path" => "did you mean `crate = ::objimpl`?",
        "fixed" | "plain" | "simple" => "did you mean `basic`?",
        "free_list" | "freelist_size" | "pool" | "cache" => "did you mean `freelist = 32`?",
        "constructor" | "ctor" | "new_name" | "no_new" => {
            "did you mean `new = create` or `new = false`?"
        }
        "cyclic" | "tracked" | "gc_tracked" | "collected" => "did you mean `gc`?",
        "skip" | "weaklist" => {
            "that is a field option: put `#[pyobject(skip)]` or \
                                `#[pyobject(weaklist)]` on the field"
        }
        _ => "",
    };
    let message = format!("unknown option `{written}`: {error}");
    Error::new(
        ident.span(),
        if suggestion.is_empty() {
            message
        } else {
            format!("{message}; {suggestion}")
        },
    )
}

/// Records `value` for an option, or an error at `kw` if it was given before.
fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, value: T, kw: impl quote::ToTokens, option: &str) {
    if slot.is_some() {
        cx.error_spanned_by(kw, format!("`{option}` may only be specified once"));
    } else {
        *slot = Some(value);
    }
}

/// Error recovery: skips the rest of a malformed option, up to and including
/// the next comma between options.
fn skip_past_comma(input: ParseStream<'_>) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    })
}
