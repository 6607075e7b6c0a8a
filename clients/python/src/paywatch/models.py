"""Typed models of the paywatch API's answers (docs/openapi.yaml).

Each model is a dataclass built with ``Model.from_dict(json_object)``. Field
names are the API's; ``from`` is spelt ``from_status`` (``ManualAction``) and
``from_addresses`` (``Refund``), ``from`` being a Python keyword. Fields the
API may leave out are ``Optional`` and ``None`` when absent. Fields this
version does not know are ignored; the whole object stays available as
``model.raw``.

Amounts are strings, never floats: base-unit integers (``"12500000"``) for
transfers, events and ``amount_due_base``; whole-unit decimals (``"12.5"``) for
an invoice's ``amount``, ``amount_due``, ``paid`` and ``excess``.
:mod:`paywatch.units` converts between the two exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Type, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import UnexpectedResponseError

__all__ = [
    "Model",
    "Asset",
    "BlockRef",
    "WatchRef",
    "NewWatch",
    "Watch",
    "DeletedWatch",
    "BatchResult",
    "BatchItemError",
    "Risk",
    "Transfer",
    "TransferPage",
    "FrozenAddress",
    "FrozenList",
    "InvoicePayment",
    "Tolerance",
    "PreviousPrice",
    "Pricing",
    "ManualAction",
    "Refund",
    "Invoice",
    "ChoiceOption",
    "Choice",
    "InvoicePage",
    "Event",
    "PaymentEvent",
    "InvoiceEvent",
    "UnmatchedCandidate",
    "UnmatchedPaymentEvent",
    "AddressEvent",
    "EventPage",
    "Delivery",
    "DeliveryPage",
    "EndpointStatus",
    "ChainStatus",
    "SinkStatus",
    "PluginStatus",
    "RateSourceStatus",
    "RatePairStatus",
    "PoolCounts",
    "EventsStatus",
    "DeliveryOverview",
    "Status",
    "PoolResult",
    "RescanAccepted",
    "parse_invoice_or_choice",
    "OPEN_INVOICE_STATUSES",
]

M = TypeVar("M", bound="Model")

#: Invoice states in which an invoice still waits for payment (and can be cancelled).
OPEN_INVOICE_STATUSES = frozenset({"pending", "underpaid"})


class Model:
    """Base of the answer models: ``from_dict`` and ``raw``."""

    _hints: ClassVar[Dict[type, Dict[str, Any]]] = {}

    @property
    def raw(self) -> Dict[str, Any]:
        """The JSON object the model was read from, unknown fields included."""
        return getattr(self, "_raw", {})

    @classmethod
    def from_dict(cls: Type[M], data: Dict[str, Any]) -> M:
        if not isinstance(data, dict):
            raise UnexpectedResponseError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
        hints = Model._hints.get(cls)
        if hints is None:
            hints = get_type_hints(cls)
            Model._hints[cls] = hints
        kwargs: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            key = f.metadata.get("key", f.name)
            if key in data:
                kwargs[f.name] = _convert(hints[f.name], data[key])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UnexpectedResponseError(f"{cls.__name__} without `{key}`: {data!r:.300}")
        obj = cls(**kwargs)
        object.__setattr__(obj, "_raw", data)
        return obj


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(tp)
    if origin is Union:
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _convert(args[0], value)
        return value
    if origin in (list, List):
        (item,) = get_args(tp)
        if not isinstance(value, list):
            raise UnexpectedResponseError(f"expected a list, got {value!r:.100}")
        return [_convert(item, v) for v in value]
    if origin in (dict, Dict):
        _, item = get_args(tp)
        return {k: _convert(item, v) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Model):
        return tp.from_dict(value)
    return value


def _key(name: str) -> Dict[str, str]:
    return {"key": name}


# --- shared -------------------------------------------------------------------


@dataclass
class Asset(Model):
    """What moved: ``contract`` is ``None`` for the chain's native coin."""

    symbol: str
    decimals: int
    contract: Optional[str]


@dataclass
class BlockRef(Model):
    height: int
    hash: str
    time: int


@dataclass
class WatchRef(Model):
    """The label and metadata of the watch a transfer matched."""

    label: Optional[str]
    metadata: Dict[str, Any]


@dataclass
class Risk(Model):
    """What risk screening found: ``zero_value``, ``dust``, ``lookalike``,
    ``frozen_sender``, ``frozen_address``, ``sanctioned``, ``contract_sender``."""

    flags: List[str]


# --- watches ------------------------------------------------------------------


@dataclass
class NewWatch(Model):
    """A watch to add (for :meth:`paywatch.Client.add_watches`)."""

    chain: str
    address: str
    label: Optional[str] = None
    metadata: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"chain": self.chain, "address": self.address}
        if self.label is not None:
            out["label"] = self.label
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass
class Watch(Model):
    chain: str
    address: str
    label: Optional[str]
    metadata: Dict[str, Any]
    created_at: int


@dataclass
class DeletedWatch(Model):
    deleted: bool
    chain: str
    address: str


@dataclass
class BatchResult(Model):
    created: int
    existing: int


@dataclass
class BatchItemError(Model):
    """One invalid item of a bulk load (``details`` of ``invalid_batch``)."""

    item: int
    code: str
    message: str


# --- transfers ----------------------------------------------------------------


@dataclass
class Transfer(Model):
    """One value moved to or from a watched address by one transaction.
    ``amount`` is in base units."""

    chain: str
    txid: str
    index: int
    direction: str
    address: str
    address_key: str
    asset: Asset
    amount: str
    block: BlockRef
    height: int
    block_hash: str
    confirmations: int
    status: str
    watch: WatchRef
    counterparty: Optional[str] = None
    risk: Optional[Risk] = None


@dataclass
class TransferPage(Model):
    transfers: List[Transfer]
    next_cursor: Optional[str]


@dataclass
class FrozenAddress(Model):
    address: str
    asset: str
    contract: str
    height: int
    txid: str


@dataclass
class FrozenList(Model):
    chain: str
    frozen: List[FrozenAddress]


# --- invoices -----------------------------------------------------------------


@dataclass
class InvoicePayment(Model):
    """An incoming transfer counted towards an invoice; ``amount`` in base units."""

    txid: str
    index: int
    amount: str
    height: int
    confirmed: bool
    mempool: Optional[bool] = None
    flags: Optional[List[str]] = None


@dataclass
class Tolerance(Model):
    rule: str
    amount: str
    amount_base: str


@dataclass
class PreviousPrice(Model):
    amount_due: str
    amount_due_base: str
    least_payable: str
    until: int
    honoured: Optional[bool] = None


@dataclass
class Pricing(Model):
    price: str
    currency: str
    rate: str
    rate_sources: List[str]
    rate_as_of: int
    source_rate: Optional[str] = None
    rate_adjust: Optional[str] = None
    places: Optional[int] = None
    locked_at: Optional[int] = None
    relocks: Optional[int] = None
    previous: Optional[PreviousPrice] = None


@dataclass
class ManualAction(Model):
    """One change made by hand; ``from_status`` is the status before."""

    action: str
    at: int
    from_status: str = field(metadata=_key("from"))
    by: Optional[str] = None
    note: Optional[str] = None
    txid: Optional[str] = None


@dataclass
class Refund(Model):
    """A refund paywatch prepared; ``from_addresses`` are the merchant's
    addresses a payment of it is taken from."""

    id: str
    status: str
    amount: str
    amount_base: str
    address: str
    from_addresses: List[str] = field(metadata=_key("from"))
    payment_uri: str
    qr_svg_url: str
    created_at: int
    by: Optional[str] = None
    note: Optional[str] = None
    txid: Optional[str] = None
    index: Optional[int] = None
    height: Optional[int] = None


@dataclass
class Invoice(Model):
    """A payment request. ``amount``, ``amount_due``, ``paid``, ``excess`` and
    ``amount_short`` are whole-unit decimal strings; ``amount_due_base`` is
    base units."""

    id: str
    chain: str
    network: str
    order_id: str
    asset: Asset
    amount: str
    amount_due: str
    amount_due_base: str
    address: str
    payment_uri: str
    qr_svg_url: str
    created_at: int
    expires_at: int
    status: str
    paid: str
    payments: List[InvoicePayment]
    metadata: Dict[str, Any]
    derivation_index: Optional[int] = None
    excess: Optional[str] = None
    closed: Optional[str] = None
    underpayment_tolerance: Optional[Tolerance] = None
    amount_short: Optional[str] = None
    confirmations: Optional[int] = None
    pooled: Optional[bool] = None
    history: Optional[List[ManualAction]] = None
    choice: Optional[str] = None
    superseded_by: Optional[str] = None
    hold_flagged: Optional[bool] = None
    released: Optional[bool] = None
    refunds: Optional[List[Refund]] = None
    amount_reserved_until: Optional[int] = None
    pricing: Optional[Pricing] = None
    redirect_url: Optional[str] = None
    checkout_url: Optional[str] = None

    kind: ClassVar[str] = "invoice"

    @property
    def is_open(self) -> bool:
        """``pending`` or ``underpaid``: still waiting for payment."""
        return self.status in OPEN_INVOICE_STATUSES


@dataclass
class ChoiceOption(Model):
    chain: str
    asset: str
    network: str
    invoice: Optional[Invoice]


@dataclass
class Choice(Model):
    """An order the buyer pays on the network of its choice."""

    id: str
    kind: str
    order_id: str
    price: str
    currency: str
    status: str
    paid_by: Optional[str]
    options: List[ChoiceOption]
    created_at: int
    expires_at: int
    metadata: Dict[str, Any]
    redirect_url: Optional[str] = None
    underpayment_tolerance: Optional[str] = None
    rate_adjust: Optional[str] = None
    hold_flagged: Optional[bool] = None
    checkout_url: Optional[str] = None


def parse_invoice_or_choice(data: Dict[str, Any]) -> Union[Invoice, Choice]:
    """An ``Invoice``, or a ``Choice`` when the object has ``"kind": "choice"``."""
    if isinstance(data, dict) and data.get("kind") == "choice":
        return Choice.from_dict(data)
    return Invoice.from_dict(data)


@dataclass
class InvoicePage(Model):
    invoices: List[Invoice]
    next: Optional[str]


# --- events -------------------------------------------------------------------


@dataclass
class Event(Model):
    """One entry of the events feed. :meth:`parse` returns the subclass for
    its ``type``: :class:`PaymentEvent` (``payment.*``), :class:`InvoiceEvent`
    (``invoice.*`` and ``refund.*``), :class:`UnmatchedPaymentEvent`
    (``invoice.unmatched_payment``) or :class:`AddressEvent` (``address.*``);
    a type this version does not know stays an ``Event``."""

    id: str
    type: str
    seq: int
    chain: str
    network: str

    @staticmethod
    def parse(data: Dict[str, Any]) -> "Event":
        kind = data.get("type") if isinstance(data, dict) else None
        cls: Type[Event] = Event
        if isinstance(kind, str):
            if kind.startswith("payment."):
                cls = PaymentEvent
            elif kind == "invoice.unmatched_payment":
                cls = UnmatchedPaymentEvent
            elif kind.startswith("invoice.") or kind.startswith("refund."):
                cls = InvoiceEvent
            elif kind.startswith("address."):
                cls = AddressEvent
        return cls.from_dict(data)


@dataclass
class PaymentEvent(Event):
    """A transfer of a watched address was detected, confirmed or reorged out
    (or, from a Bitcoin mempool, replaced, double-spent or dropped).
    ``amount`` is in base units; ``block`` is ``None`` for a mempool event."""

    direction: str
    address: str
    txid: str
    index: int
    confirmations: int
    asset: Asset
    amount: str
    watch: WatchRef
    block: Optional[BlockRef] = None
    counterparty: Optional[str] = None
    risk: Optional[Risk] = None
    status: Optional[str] = None
    mempool: Optional[Dict[str, Any]] = None
    replaced_by: Optional[str] = None
    output_kept: Optional[bool] = None
    conflicting_txid: Optional[str] = None


@dataclass
class InvoiceEvent(Event):
    """An invoice changed state (``invoice.*``) or a refund moved
    (``refund.*``). ``invoice`` is the invoice as the change left it;
    ``amount`` is what it received so far, in base units."""

    direction: str
    address: str
    asset: Asset
    amount: str
    watch: WatchRef
    invoice: Invoice
    txid: Optional[str] = None
    index: Optional[int] = None
    block: Optional[BlockRef] = None
    confirmations: Optional[int] = None
    payment_event: Optional[str] = None
    refund: Optional[Refund] = None


@dataclass
class UnmatchedCandidate(Model):
    id: str
    order_id: str
    amount_due: str
    least_payable: str


@dataclass
class UnmatchedPaymentEvent(Event):
    """A payment to a shared or pool address that credits no invoice."""

    direction: str
    address: str
    asset: Asset
    amount: str
    watch: WatchRef
    txid: str
    index: int
    confirmations: int
    payment_event: str
    candidates: List[UnmatchedCandidate]
    block: Optional[BlockRef] = None


@dataclass
class AddressEvent(Event):
    """A stablecoin's issuer froze or released a watched address."""

    address: str
    asset: Asset
    txid: str
    index: int
    block: BlockRef
    watch: WatchRef
    destroyed: Optional[str] = None


@dataclass
class EventPage(Model):
    events: List[Event]
    next_after: int

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "EventPage":
        if not isinstance(data, dict) or not isinstance(data.get("events"), list) or "next_after" not in data:
            raise UnexpectedResponseError(f"not an event page: {data!r:.300}")
        page = cls(events=[Event.parse(e) for e in data["events"]], next_after=data["next_after"])
        object.__setattr__(page, "_raw", data)
        return page


# --- deliveries ---------------------------------------------------------------


@dataclass
class Delivery(Model):
    """One event on its way to one sink (``sink``), or one a plugin failed on
    (``plugin``). Times are Unix milliseconds."""

    id: str
    seq: int
    event_id: str
    chain: str
    address: str
    status: str
    attempts: int
    created_ms: int
    since_ms: int
    next_attempt_ms: int
    sink: Optional[str] = None
    plugin: Optional[str] = None
    delivered_ms: Optional[int] = None
    last_error: Optional[str] = None
    delayed: Optional[int] = None
    payload: Any = None


@dataclass
class DeliveryPage(Model):
    deliveries: List[Delivery]
    next: Optional[str]


# --- status -------------------------------------------------------------------


@dataclass
class EndpointStatus(Model):
    endpoint: str
    priority: int
    state: str
    tip: Optional[int]
    lag: Optional[int]
    latency_ms: float
    requests: int
    errors: int
    last_error: Optional[str]
    unhealthy_for_secs: Optional[int]


@dataclass
class ChainStatus(Model):
    chain: str
    kind: str
    network: str
    state: str
    node_tip: Optional[int]
    indexed_height: Optional[int]
    lag: Optional[int]
    synced_percent: Optional[float]
    start_height: int
    blocks_per_second: float
    confirmations: int
    decode_skipped: int
    rescans: int
    last_error: Optional[str]
    endpoints: List[EndpointStatus]


@dataclass
class SinkStatus(Model):
    pending: int
    dead: int


@dataclass
class PluginStatus(Model):
    name: str
    state: str
    calls: int
    failures: int
    consecutive_failures: int
    dead: int
    disabled_until_ms: Optional[int] = None
    last_error: Optional[str] = None


@dataclass
class RateSourceStatus(Model):
    name: str
    value: Optional[str]
    age_secs: Optional[int]
    fresh: bool
    outlier: bool
    error: Optional[str]


@dataclass
class RatePairStatus(Model):
    pair: str
    rate: Optional[str]
    usable: bool
    error: Optional[str]
    sources: List[RateSourceStatus]


@dataclass
class PoolCounts(Model):
    free: int
    reserved: int


@dataclass
class EventsStatus(Model):
    last_seq: int


@dataclass
class DeliveryOverview(Model):
    dispatched_seq: int
    sinks: Dict[str, SinkStatus]
    plugins: List[PluginStatus]


@dataclass
class Status(Model):
    """``GET /v1/status``: the chains, the events feed, delivery and rates."""

    version: str
    chains: List[ChainStatus]
    events: EventsStatus
    delivery: DeliveryOverview
    rates: List[RatePairStatus]
    risk: Optional[Dict[str, Any]] = None
    invoice_pools: Optional[Dict[str, PoolCounts]] = None

    def chain(self, name: str) -> Optional[ChainStatus]:
        """The status of the chain named ``name``, or ``None``."""
        for chain in self.chains:
            if chain.chain == name:
                return chain
        return None


@dataclass
class PoolResult(Model):
    added: int
    pool: PoolCounts


@dataclass
class RescanAccepted(Model):
    chain: str
    from_height: int = field(metadata=_key("from"))

