//! Checking: syntax to a valid [`Object`], or an error for every misuse the
//! tokens show, each at the offending token and saying what to write instead.
//!
//! What the tokens cannot show (the size or alignment of a type named by
//! path) is checked by the constants `expand` generates.

use std::ffi::CString;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{
    Attribute, Data, DeriveInput, Expr, Fields, GenericParam, Ident, Lit, Member, Path, Type,
    Visibility,
};

use crate::ctxt::Ctxt;
use crate::parse::{Args, Constructors};

/// The allocator's alignment, the most an object may need.
const MAX_ALIGN: u64 = 16;

/// A struct that can be an object type, and what to generate for it.
pub(crate) struct Object {
    /// The struct's attributes as written, `#[pyobject]` excepted.
    pub(crate) attrs: Vec<Attribute>,
    /// Whether the struct needs `#[repr(C)]` added (it has no `repr(C)` or
    /// `repr(transparent)` of its own).
    pub(crate) add_repr_c: bool,
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    pub(crate) fields: Fields,
    /// `tp_name`, and the token it came from.
    pub(crate) name: CString,
    pub(crate) name_span: Span,
    /// The item type of a var-size object.
    pub(crate) item: Option<Type>,
    /// The runtime crate.
    pub(crate) krate: Path,
    /// The constructors' name (`new`, `new_var` for the default), or none.
    pub(crate) constructor: Option<Ident>,
    /// The field marked `#[pyobject(weaklist)]`, and its type.
    pub(crate) weaklist: Option<(Member, Type)>,
    /// `freelist = N`: how many freed objects to keep per thread.
    pub(crate) freelist: Option<syn::LitInt>,
    /// `gc`: the fields the derived traversal visits (all but those marked
    /// `#[pyobject(skip)]`); `None` for a `basic` type.
    pub(crate) gc: Option<Vec<(Member, Type)>>,
}

/// Checks the options and the struct together, reporting every problem.
/// `None` if there was any.
pub(crate) fn check(cx: &Ctxt, args: Args, input: DeriveInput) -> Option<Object> {
    let fields = match input.data {
        Data::Struct(data) => Some(data.fields),
        Data::Enum(data) => {
            cx.error_spanned_by(
                data.enum_token,
                "#[pyobject] goes on a struct, not an enum: put the enum in a field \
                 (`#[pyobject(basic)] struct Shape { kind: ShapeKind }`)",
            );
            None
        }
        Data::Union(data) => {
            cx.error_spanned_by(
                data.union_token,
                "#[pyobject] goes on a struct, not a union: put the union in a field \
                 (`#[pyobject(basic)] struct Value { raw: RawValue }`)",
            );
            None
        }
    };
    check_generics(cx, &input.generics.params);
    if let Some(where_clause) = &input.generics.where_clause {
        cx.error_spanned_by(
            where_clause.where_token,
            "an object type is concrete, so it has nothing for a `where` clause to bound: \
             remove the `where` clause",
        );
    }
    let add_repr_c = check_repr(cx, &input.attrs);
    if let Some(item) = &args.item {
        check_item(cx, item);
    }
    let (name, name_span) = type_name(cx, &args, &input.ident);

    if let (Some(_), Some(gc)) = (&args.basic, &args.gc) {
        cx.error_spanned_by(
            gc,
            "an object is either `basic` or `gc`: write `#[pyobject(gc)]` for objects that \
             may form reference cycles, `#[pyobject(basic)]` for the others",
        );
    }
    if let Some(n) = &args.freelist {
        match n.base10_parse::<usize>() {
            Ok(0) => cx.error_spanned_by(
                n,
                "`freelist = 0` keeps nothing: remove `freelist`, or give it a size \
                 (`freelist = 32`)",
            ),
            Ok(_) if args.item.is_some() => cx.error_spanned_by(
                n,
                "a freelist keeps objects of one size, and objects with items vary: \
                 `freelist` is for types without `item`",
            ),
            Ok(_) => {}
            Err(_) => cx.error_spanned_by(
                n,
                "`freelist` takes how many freed objects to keep per thread, a whole \
                 number: `freelist = 32`",
            ),
        }
    }
    let mut fields = fields?;
    let FieldOptions {
        weaklist,
        traversed,
    } = field_options(cx, &mut fields, args.gc.is_some());
    if cx.has_errors() {
        return None;
    }
    Some(Object {
        attrs: input.attrs,
        add_repr_c,
        vis: input.vis,
        ident: input.ident,
        fields,
        name,
        name_span,
        item: args.item,
        krate: args.krate.unwrap_or_else(runtime_path),
        constructor: match args.new {
            None => Some(Ident::new("new", Span::call_site())),
            Some(Constructors::Named(name)) => Some(name),
            Some(Constructors::Skipped) => None,
        },
        weaklist,
        gc: args.gc.map(|_| traversed),
        freelist: args.freelist,
    })
}

/// Where the runtime is when `crate = ...` is not given: `::objimpl`, under
/// the name the calling crate's `Cargo.toml` gives it (a renamed dependency,
/// `oi = { package = "objimpl" }`, is `::oi`), or `objimpl-core` if that is
/// the dependency; `::objimpl` when neither is found (its error then says
/// so, and `crate = ...` says where).
pub(crate) fn runtime_path() -> Path {
    use proc_macro_crate::{FoundCrate, crate_name};
    for (package, lib) in [("objimpl", "objimpl"), ("objimpl-core", "objimpl_core")] {
        let name = match crate_name(package) {
            // The package itself: its examples, tests, benches and doc
            // tests see the library under its name, and so does the
            // library (`extern crate self as objimpl;`).
            Ok(FoundCrate::Itself) => lib.to_owned(),
            Ok(FoundCrate::Name(name)) => name,
            Err(_) => continue,
        };
        let name = Ident::new(&name, Span::call_site());
        return syn::parse_quote!(::#name);
    }
    syn::parse_quote!(::objimpl)
}

/// What the fields' own `#[pyobject(...)]` attributes say.
struct FieldOptions {
    /// The field marked `weaklist`.
    weaklist: Option<(Member, Type)>,
    /// The fields not marked `skip`.
    traversed: Vec<(Member, Type)>,
}

/// Takes the `#[pyobject(...)]` attributes off the fields (the struct is
/// kept as written otherwise) and reads them.
fn field_options(cx: &Ctxt, fields: &mut Fields, gc: bool) -> FieldOptions {
    let mut weaklist: Option<(Member, Type)> = None;
    let mut traversed = Vec::new();
    for (index, field) in fields.iter_mut().enumerate() {
        let (ours, theirs): (Vec<Attribute>, Vec<Attribute>) = field
            .attrs
            .drain(..)
            .partition(|attr| attr.path().is_ident("pyobject"));
        field.attrs = theirs;
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(index.into()),
        };
        let mut skip = false;
        for attr in ours {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("weaklist") {
                    if weaklist.is_some() {
                        return Err(meta.error("only one field may be the `weaklist`"));
                    }
                    weaklist = Some((member.clone(), field.ty.clone()));
                    Ok(())
                } else if meta.path.is_ident("skip") {
                    if !gc {
                        return Err(meta.error(
                            "`skip` hides a field from the cycle collector, which only \
                             `gc` types have: write `#[pyobject(gc)]` on the struct, or \
                             remove `#[pyobject(skip)]`",
                        ));
                    }
                    skip = true;
                    Ok(())
                } else {
                    Err(meta.error(
                        "unknown field option: a field takes `#[pyobject(weaklist)]`, on a \
                         `WeakList` field, to make the type weak-referenceable, or (in a `gc` \
                         type) `#[pyobject(skip)]`, to hide it from the cycle collector",
                    ))
                }
            });
            if let Err(error) = parsed {
                cx.syn_error(error);
            }
        }
        if !skip {
            traversed.push((member, field.ty.clone()));
        }
    }
    FieldOptions {
        weaklist,
        traversed,
    }
}

fn check_generics<'a>(cx: &Ctxt, params: impl IntoIterator<Item = &'a GenericParam>) {
    for param in params {
        match param {
            GenericParam::Lifetime(param) => cx.error_spanned_by(
                &param.lifetime,
                format!(
                    "an object type cannot borrow: an object lives until its last reference \
                     is dropped, not for a lifetime `{}`; own the data instead \
                     (`String` for `&str`, `Vec<T>` for `&[T]`, `Py<T>` for `&T`)",
                    param.lifetime
                ),
            ),
            GenericParam::Type(param) => cx.error_spanned_by(
                &param.ident,
                format!(
                    "an object type cannot be generic: each type has one static type object; \
                     write a struct for each concrete type instead of `{}` \
                     (`struct IntList` with `item = i64`)",
                    param.ident
                ),
            ),
            GenericParam::Const(param) => cx.error_spanned_by(
                &param.ident,
                format!(
                    "an object type cannot be generic: each type has one static type object; \
                     for a run-time number of elements, use items (`item = T`) instead of `const {}`",
                    param.ident
                ),
            ),
        }
    }
}

/// Refuses `repr(packed)` and alignments past the allocator's; returns whether
/// `#[repr(C)]` must be added.
fn check_repr(cx: &Ctxt, attrs: &[Attribute]) -> bool {
    let mut add_repr_c = true;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("repr")) {
        // Forms rustc itself rejects (or that we do not know) are left to rustc.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                add_repr_c = false;
            } else if meta.path.is_ident("packed") {
                cx.error_spanned_by(
                    &meta.path,
                    "#[pyobject] types cannot be `packed`: the payload's fields must be \
                     aligned for `Py<T>` to hand out references to them; remove `packed` \
                     (to save space, order the fields from the most aligned to the least)",
                );
                if meta.input.peek(syn::token::Paren) {
                    let _ = meta.input.parse::<proc_macro2::Group>();
                }
            } else if meta.path.is_ident("align") {
                let content;
                syn::parenthesized!(content in meta.input);
                let align: syn::LitInt = content.parse()?;
                if align.base10_parse::<u64>().is_ok_and(|n| n > MAX_ALIGN) {
                    cx.error_spanned_by(
                        &align,
                        format!(
                            "an object's alignment can be at most {MAX_ALIGN} bytes, the \
                             allocator's: use `align({MAX_ALIGN})` or less"
                        ),
                    );
                }
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.input.parse::<proc_macro2::Group>();
            }
            Ok(())
        });
    }
    add_repr_c
}

/// The item type must be sized, of non-zero size, and owned: the forms that
/// show it in the tokens. (A named type's size and alignment are checked by
/// generated constants.)
fn check_item(cx: &Ctxt, item: &Type) {
    match item {
        Type::Tuple(tuple) if tuple.elems.is_empty() => cx.error_spanned_by(
            item,
            "items of type `()` take no space: for an object without items, \
             remove `item = ()` and write `#[pyobject(basic)]`",
        ),
        Type::Array(array) if is_zero(&array.len) => cx.error_spanned_by(
            item,
            "items of a zero-length array take no space: give the array a length, \
             or remove `item = ...` for an object without items",
        ),
        Type::Path(path)
            if path
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "PhantomData") =>
        {
            cx.error_spanned_by(
                item,
                "items of type `PhantomData` take no space: put the `PhantomData` in a \
                 field of the struct, and remove `item = ...`",
            )
        }
        Type::Slice(slice) => {
            let elem = &slice.elem;
            cx.error_spanned_by(
                item,
                format!(
                    "`item` is the type of one item, which must be sized: write \
                     `item = {}`, and `T::new_var(value, items)` makes an object with \
                     as many items as it is given",
                    quote::quote!(#elem)
                ),
            )
        }
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("str") => cx
            .error_spanned_by(
                item,
                "`item` is the type of one item, which must be sized: for text, write \
                 `item = u8` and store UTF-8 bytes (as CPython's `bytes`)",
            ),
        Type::TraitObject(_) => cx.error_spanned_by(
            item,
            "`item` is the type of one item, which must be sized: for items of any \
             object type, write `item = PyAny`; otherwise `item = Box<dyn Trait>`",
        ),
        Type::ImplTrait(_) | Type::Infer(_) => cx.error_spanned_by(
            item,
            "`item` must name a concrete type, such as `item = u32`",
        ),
        Type::Reference(reference)
            if reference
                .lifetime
                .as_ref()
                .is_none_or(|lifetime| lifetime.ident != "static") =>
        {
            cx.error_spanned_by(
                item,
                "items live as long as the object, not for a borrow: use an owned type \
                 (`Py<T>` or `PyAny` for objects), or a `&'static` reference",
            )
        }
        Type::Paren(paren) => check_item(cx, &paren.elem),
        Type::Group(group) => check_item(cx, &group.elem),
        _ => {}
    }
}

fn is_zero(len: &Expr) -> bool {
    matches!(len, Expr::Lit(lit) if matches!(&lit.lit, Lit::Int(n) if n.base10_digits() == "0"))
}

/// `tp_name`: the `name` option, or the struct's name.
fn type_name(cx: &Ctxt, args: &Args, ident: &Ident) -> (CString, Span) {
    let Some(name) = &args.name else {
        let name = ident.unraw().to_string();
        return (CString::new(name).unwrap_or_default(), ident.span());
    };
    let value = name.value();
    if value.is_empty() {
        cx.error_spanned_by(
            name,
            format!(
                "a type needs a name: write `name = \"{}\"`, or leave `name` out",
                ident.unraw()
            ),
        );
    }
    match CString::new(value) {
        Ok(value) => (value, name.span()),
        Err(_) => {
            cx.error_spanned_by(
                name,
                "a type's name is a C string (`tp_name`) and cannot contain a NUL character",
            );
            (CString::default(), name.span())
        }
    }
}
