//! Attribute macros of the Sluice guest SDK (`sluice-guest`).
//!
//! Each macro turns one per-record function (or, for `#[flat_map_batch]`,
//! one function of the whole partition batch) into a complete operator
//! component: it keeps the function as written, and generates the export of
//! the matching world whose batch entry point loops over the records inside
//! the guest. The shape of the function is checked here, with errors on the
//! offending tokens; the types of records are checked by the SDK's traits.
//!
//! One generator serves every kind: they differ only in the world they
//! export, the entry point's name and types, and the arity of the function.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, FnArg, ItemFn, Meta, Path, ReturnType, Token, Type};

/// Turns `fn(record) -> output_record` into a `map` operator.
///
/// The function may also return `Result<output_record, E>` with
/// `E: Display`: an error fails the batch and names the record.
#[proc_macro_attribute]
pub fn map(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Map, args, item)
}

/// Turns `fn(record) -> impl IntoIterator<Item = output_record>` into a
/// `flat_map` operator.
#[proc_macro_attribute]
pub fn flat_map(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::FlatMap, args, item)
}

/// Turns `fn(Vec<record>) -> impl IntoIterator<Item = output_record>` into
/// a `flat_map` operator called with the whole partition batch at once
/// (Spark's `mapPartitions`): the function sees every record of the
/// partition together, e.g. to combine them before they leave the guest.
#[proc_macro_attribute]
pub fn flat_map_batch(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::FlatMapBatch, args, item)
}

/// Turns `fn(V) -> impl IntoIterator<Item = W>` into a `flat_map_values`
/// operator: each value of a keyed stream becomes zero or more values,
/// which the host puts on the value's key.
#[proc_macro_attribute]
pub fn flat_map_values(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::FlatMapValues, args, item)
}

/// Turns `fn(record) -> bool` into a `filter` operator.
#[proc_macro_attribute]
pub fn filter(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Filter, args, item)
}

/// Turns `fn(V, V) -> V` into a `reduce_by_key` operator. The function must
/// be associative and commutative.
#[proc_macro_attribute]
pub fn reduce(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Reduce, args, item)
}

/// Turns `fn(total: V, leaving: V) -> V` into the inverse of a windowed
/// reducer (`inverse_plugin`, Spark's `invFunc`): with the reducer `⊕`,
/// `(a ⊕ b) ⊖ b = a`.
#[proc_macro_attribute]
pub fn inverse_reduce(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::InverseReduce, args, item)
}

/// Turns `fn(key: K, value: Option<V>, state: &mut State<S>) -> O` into a
/// `map_with_state` operator (Scala's `StateSpec.function`): called for
/// each record of a key with new values, in order, with the key's state to
/// read, update or remove; and, with a `timeout`, once more with `None`
/// for a key idle that long (`state.is_timing_out()`), whose state is then
/// removed. `S` is an owned state type (`i64`, `f64`, `String`, `Vec<u8>`,
/// `Json<String>`); `O` is the output record.
#[proc_macro_attribute]
pub fn map_with_state(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::MapWithState, args, item)
}

/// Turns `fn(&[V], Option<S>) -> Option<S>` into an `update_state_by_key`
/// operator: a key's new values in this batch (in arrival order, possibly
/// none) and its previous state (`None` for a new key) give its new state;
/// `None` removes the key. The state type is owned as output (`i64`, `f64`,
/// `String`, `Vec<u8>`, `Json<String>`) and borrowed as input: `Option<i64>`
/// in, `Option<i64>` out; `Option<&str>` in, `Option<String>` out.
#[proc_macro_attribute]
pub fn update_state(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::UpdateState, args, item)
}

/// Turns `fn(info: &SinkBatch, records: Vec<R>) -> Result<(), E>` into a
/// sink plugin (`kind = "plugin"` in `[sinks]`, Spark's `foreachRDD`):
/// called once per partition batch with its records, `R` an input record
/// (`value` or `(key, value)`), `E: Display`. `info` says which pipeline,
/// sink, batch time, partition and attempt the call is, so a receiver can
/// drop what it already has. Send with [`sluice_guest::http`].
#[proc_macro_attribute]
pub fn sink(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand_sink(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn try_expand_sink(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args =
        syn::parse::Parser::parse2(|input: ParseStream| Args::parse_for("#[sink]", input), args)?;
    let function: ItemFn = syn::parse2(item)
        .map_err(|e| Error::new(e.span(), format!("#[sink] applies to a function: {e}")))?;
    let sig = &function.sig;
    if let Some(asyncness) = sig.asyncness {
        return Err(Error::new(
            asyncness.span(),
            "#[sink] functions cannot be async: the host calls them synchronously",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new(
            sig.generics.span(),
            "#[sink] functions cannot be generic: the record type must be concrete",
        ));
    }
    if sig.inputs.len() != 2 || matches!(sig.output, ReturnType::Default) {
        return Err(Error::new(
            sig.span(),
            "a #[sink] function takes the batch's description and its records, `fn(info: &SinkBatch, records: Vec<R>) -> Result<(), E>`",
        ));
    }
    let name = &sig.ident;
    let init = match &args.init {
        Some(path) => quote_spanned! {path.span()=>
            ::std::option::Option::Some(#path as ::sluice_guest::runtime::InitFn)
        },
        None => quote!(::std::option::Option::None),
    };
    // Type errors in the record type point at the function's signature.
    let sig_span = sig.span();
    let record_type =
        quote_spanned! {sig_span=> ::sluice_guest::runtime::sink_record_type(&#name) };
    let call = quote_spanned! {sig_span=> ::sluice_guest::runtime::sink(&info, &records, #name) };
    Ok(quote! {
        #function

        const _: () = {
            struct SluiceSink;

            impl ::sluice_guest::bindings::sink_operator::exports::sluice::operator::sink::Guest
                for SluiceSink
            {
                fn describe() -> ::sluice_guest::bindings::types::RecordType {
                    #record_type
                }

                fn init(
                    params: ::std::vec::Vec<::sluice_guest::bindings::types::Param>,
                ) -> ::std::result::Result<(), ::sluice_guest::bindings::types::Error> {
                    ::sluice_guest::runtime::init(params, #init)
                }

                fn write(
                    info: ::sluice_guest::SinkBatch,
                    records: ::sluice_guest::bindings::types::Batch,
                ) -> ::std::result::Result<(), ::sluice_guest::bindings::types::Error> {
                    #call
                }
            }

            ::sluice_guest::bindings::sink_operator::export_sink_operator!(SluiceSink);
        };
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Map,
    FlatMap,
    FlatMapBatch,
    FlatMapValues,
    Filter,
    Reduce,
    InverseReduce,
    UpdateState,
    MapWithState,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Map => "#[map]",
            Kind::FlatMap => "#[flat_map]",
            Kind::FlatMapBatch => "#[flat_map_batch]",
            Kind::FlatMapValues => "#[flat_map_values]",
            Kind::Filter => "#[filter]",
            Kind::Reduce => "#[reduce]",
            Kind::InverseReduce => "#[inverse_reduce]",
            Kind::UpdateState => "#[update_state]",
            Kind::MapWithState => "#[map_with_state]",
        }
    }

    /// (world module, interface module, entry point, runtime loop, signature fn)
    fn names(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            Kind::Map => (
                "map_operator",
                "mapper",
                "transform",
                "map",
                "map_signature",
            ),
            Kind::FlatMap => (
                "flat_map_operator",
                "flat_mapper",
                "expand",
                "flat_map",
                "flat_map_signature",
            ),
            Kind::FlatMapBatch => (
                "flat_map_operator",
                "flat_mapper",
                "expand",
                "flat_map_batch",
                "flat_map_batch_signature",
            ),
            Kind::FlatMapValues => (
                "flat_map_values_operator",
                "value_flat_mapper",
                "expand_values",
                "expand_values",
                "flat_map_values_signature",
            ),
            Kind::Filter => (
                "filter_operator",
                "filter",
                "keep",
                "filter",
                "filter_signature",
            ),
            Kind::Reduce => (
                "reduce_operator",
                "reducer",
                "combine",
                "combine",
                "reduce_signature",
            ),
            Kind::InverseReduce => (
                "inverse_reduce_operator",
                "inverse_reducer",
                "uncombine",
                "uncombine",
                "reduce_signature",
            ),
            Kind::UpdateState => (
                "update_state_operator",
                "state_updater",
                "update",
                "update_state",
                "update_state_signature",
            ),
            Kind::MapWithState => (
                "map_with_state_operator",
                "state_mapper",
                "map_batch",
                "map_with_state",
                "map_with_state_signature",
            ),
        }
    }
}

/// The macro's arguments: at most `init = path`.
struct Args {
    init: Option<Path>,
}

impl Args {
    fn parse(kind: Kind, input: ParseStream) -> syn::Result<Self> {
        Self::parse_for(kind.attr(), input)
    }

    fn parse_for(attr: &str, input: ParseStream) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut init = None;
        for meta in metas {
            match meta {
                Meta::NameValue(nv) if nv.path.is_ident("init") => {
                    if init.is_some() {
                        return Err(Error::new(nv.span(), "`init` is given twice"));
                    }
                    let syn::Expr::Path(path) = nv.value else {
                        return Err(Error::new(
                            nv.value.span(),
                            "`init` takes the path of a function `fn(&Params) -> Result<(), String>`",
                        ));
                    };
                    init = Some(path.path);
                }
                other => {
                    return Err(Error::new(
                        other.span(),
                        format!(
                            "unknown argument: {attr} accepts only `init = path::to::function`"
                        ),
                    ));
                }
            }
        }
        Ok(Self { init })
    }
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(kind, args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn try_expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args = syn::parse::Parser::parse2(|input: ParseStream| Args::parse(kind, input), args)?;
    let function: ItemFn = syn::parse2(item.clone()).map_err(|e| {
        Error::new(
            e.span(),
            format!("{} applies to a function: {e}", kind.attr()),
        )
    })?;
    check_shape(kind, &function)?;

    let name = &function.sig.ident;
    let (world, interface, entry, run, signature) = kind.names();
    let world = format_ident!("{world}");
    let interface = format_ident!("{interface}");
    let entry = format_ident!("{entry}");
    let run = format_ident!("{run}");
    let signature = format_ident!("{signature}");
    let export = format_ident!("export_{world}");
    let output = match kind {
        Kind::Filter => quote!(::std::vec::Vec<u8>),
        Kind::Reduce | Kind::InverseReduce => quote!(::sluice_guest::bindings::types::Column),
        Kind::UpdateState => quote!(::sluice_guest::bindings::types::StateUpdate),
        Kind::MapWithState => quote!(::sluice_guest::bindings::types::StateMapping),
        Kind::FlatMapValues => quote!(
            ::sluice_guest::bindings::flat_map_values_operator::exports::sluice::operator::value_flat_mapper::ValueExpansion
        ),
        _ => quote!(::sluice_guest::bindings::types::Batch),
    };
    let input = match kind {
        Kind::Reduce => quote!(::sluice_guest::bindings::types::ValueGroups),
        Kind::UpdateState => quote!(::sluice_guest::bindings::types::StateBatch),
        Kind::MapWithState => quote!(::sluice_guest::bindings::types::MappingBatch),
        Kind::FlatMapValues => quote!(::sluice_guest::bindings::types::Column),
        _ => quote!(::sluice_guest::bindings::types::Batch),
    };
    let init = match &args.init {
        Some(path) => quote_spanned! {path.span()=>
            ::std::option::Option::Some(#path as ::sluice_guest::runtime::InitFn)
        },
        None => quote!(::std::option::Option::None),
    };
    // Type errors in the record types point at the function's signature.
    let sig_span = function.sig.span();
    let call_signature = quote_spanned! {sig_span=> ::sluice_guest::runtime::#signature(&#name) };
    let (params, call_run) = match kind {
        Kind::InverseReduce => (
            quote!(
                totals: ::sluice_guest::bindings::types::Column,
                leaving: ::sluice_guest::bindings::types::Column
            ),
            quote_spanned! {sig_span=> ::sluice_guest::runtime::#run(&totals, &leaving, #name) },
        ),
        Kind::FlatMapValues => (
            quote!(values: #input),
            quote_spanned! {sig_span=> ::sluice_guest::runtime::#run(&values, #name) },
        ),
        _ => (
            quote!(input: #input),
            quote_spanned! {sig_span=> ::sluice_guest::runtime::#run(&input, #name) },
        ),
    };

    // A state mapper also declares its state type.
    let state_type = match kind {
        Kind::MapWithState => quote_spanned! {sig_span=>
            fn state_type() -> ::sluice_guest::bindings::types::ValueType {
                ::sluice_guest::runtime::map_with_state_state_type(&#name)
            }
        },
        _ => quote!(),
    };

    Ok(quote! {
        #function

        const _: () = {
            struct SluiceOperator;

            impl ::sluice_guest::bindings::#world::exports::sluice::operator::#interface::Guest
                for SluiceOperator
            {
                fn describe() -> ::sluice_guest::bindings::types::Signature {
                    #call_signature
                }

                #state_type

                fn init(
                    params: ::std::vec::Vec<::sluice_guest::bindings::types::Param>,
                ) -> ::std::result::Result<(), ::sluice_guest::bindings::types::Error> {
                    ::sluice_guest::runtime::init(params, #init)
                }

                fn #entry(
                    #params
                ) -> ::std::result::Result<#output, ::sluice_guest::bindings::types::Error> {
                    #call_run
                }
            }

            ::sluice_guest::bindings::#world::#export!(SluiceOperator);
        };
    })
}

/// Checks what types cannot: arity, return, and no async/generic/receiver.
fn check_shape(kind: Kind, function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    let attr = kind.attr();
    if let Some(asyncness) = sig.asyncness {
        return Err(Error::new(
            asyncness.span(),
            format!("{attr} functions cannot be async: the host calls them synchronously"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new(
            sig.generics.span(),
            format!("{attr} functions cannot be generic: the record types must be concrete"),
        ));
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        return Err(Error::new(
            receiver.span(),
            format!("{attr} applies to a free function, not a method"),
        ));
    }
    let arity = sig.inputs.len();
    let expected = match kind {
        Kind::Reduce | Kind::InverseReduce | Kind::UpdateState => 2,
        Kind::MapWithState => 3,
        _ => 1,
    };
    if arity != expected {
        let span = if arity == 0 {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        let message = match kind {
            Kind::Reduce => format!(
                "a {attr} function takes two values to combine, `fn(a: V, b: V) -> V`; it has {arity} parameter(s)"
            ),
            Kind::InverseReduce => format!(
                "a {attr} function takes a total and the value leaving it, `fn(total: V, leaving: V) -> V`; it has {arity} parameter(s)"
            ),
            Kind::MapWithState => format!(
                "a {attr} function takes a key, a value (`None` when the key times out) and the key's state, `fn(key: K, value: Option<V>, state: &mut State<S>) -> O`; it has {arity} parameter(s)"
            ),
            Kind::UpdateState => format!(
                "a {attr} function takes a key's new values and its previous state, `fn(values: &[V], state: Option<S>) -> Option<S>`; it has {arity} parameter(s)"
            ),
            Kind::FlatMapValues => format!(
                "a {attr} function takes one value (the host keeps its key), `fn(value: V) -> impl IntoIterator<Item = W>`; it has {arity} parameter(s)"
            ),
            Kind::FlatMapBatch => format!(
                "a {attr} function takes the partition's records, `fn(records: Vec<R>) -> impl IntoIterator<Item = O>`; it has {arity} parameter(s)"
            ),
            _ => format!(
                "a {attr} function takes one record, `value` or `(key, value)`; it has {arity} parameter(s)"
            ),
        };
        return Err(Error::new(span, message));
    }
    let ReturnType::Type(_, output) = &sig.output else {
        let what = match kind {
            Kind::Map => "the output record",
            Kind::FlatMap | Kind::FlatMapBatch => "an iterator of output records",
            Kind::FlatMapValues => "an iterator of output values",
            Kind::Filter => "`bool`",
            Kind::Reduce => "the combined value",
            Kind::InverseReduce => "the total without the leaving value",
            Kind::MapWithState => "the mapped record",
            Kind::UpdateState => "the new state, `Option<S>` (`None` removes the key)",
        };
        return Err(Error::new(
            sig.ident.span(),
            format!("a {attr} function must return {what}"),
        ));
    };
    match kind {
        Kind::Filter if !is_bool(output) => Err(Error::new(
            output.span(),
            "a #[filter] function returns `bool`: `true` keeps the record",
        )),
        Kind::Reduce | Kind::InverseReduce => check_reduce_types(kind, function, output),
        _ => Ok(()),
    }
}

fn is_bool(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("bool"))
}

fn check_reduce_types(kind: Kind, function: &ItemFn, output: &Type) -> syn::Result<()> {
    let wanted = quote!(#output).to_string();
    for input in &function.sig.inputs {
        if let FnArg::Typed(pat) = input {
            let ty = &pat.ty;
            if quote!(#ty).to_string() != wanted {
                return Err(Error::new(
                    ty.span(),
                    format!(
                        "a {} function {} of the type it returns (`{wanted}`)",
                        kind.attr(),
                        match kind {
                            Kind::InverseReduce => "takes a total and a leaving value",
                            _ => "combines two values",
                        }
                    ),
                ));
            }
        }
    }
    Ok(())
}
