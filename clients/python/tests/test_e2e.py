"""End-to-end test of the paywatch Python SDK against a running daemon.

clients/run-e2e.sh sets everything up and runs this file (with the wheel
installed in a fresh venv); to run it by hand against your own setup:

    python clients/python/tests/test_e2e.py -v

Environment (all set by clients/run-e2e.sh):

    PAYWATCH_URL             the daemon's API, e.g. http://127.0.0.1:8480
    PAYWATCH_API_KEY         an API key of scope `write`
    PAYWATCH_READ_API_KEY    (optional) a key of scope `read`: a write with it must be 403
    ANVIL_URL                the Anvil JSON-RPC URL of the chain paywatch follows
    PAYWATCH_TOKEN           the ERC-20 contract paywatch knows as PAYWATCH_ASSET
    PAYWATCH_WEBHOOK_SECRET  the secret of the webhook sink PAYWATCH_SINK
    PAYWATCH_WEBHOOK_DIR     where the capturing receiver writes each request it
                             gets (NNNNNN.json: {"headers", "body_b64"}; see
                             clients/e2e/webhook_capture.py)
    PAYWATCH_RESTART_CMD     a shell command that restarts the daemon (same config
                             and data dir), pausing a moment while it is down,
                             and returns once /v1/status answers
    PAYWATCH_CHAIN           (default eth) the Anvil chain's name in paywatch
    PAYWATCH_ASSET           (default PWT) the token's symbol in paywatch
    PAYWATCH_SINK            (default capture) the sink that posts to the receiver
    PAYWATCH_DEAD_SINK       (default deadend) a sink whose deliveries go dead at once

The steps run in order and share state: status and auth, API errors,
watches, an invoice paid on Anvil and waited for, transfers, the signed
webhook, deliveries, cancelling, and the events iterator across a daemon
restart.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import unittest
import urllib.request
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Type, TypeVar

import paywatch
from paywatch import webhooks

URL = os.environ.get("PAYWATCH_URL", "")
API_KEY = os.environ.get("PAYWATCH_API_KEY", "")
READ_API_KEY = os.environ.get("PAYWATCH_READ_API_KEY", "")
ANVIL_URL = os.environ.get("ANVIL_URL", "")
TOKEN = os.environ.get("PAYWATCH_TOKEN", "")
WEBHOOK_SECRET = os.environ.get("PAYWATCH_WEBHOOK_SECRET", "")
WEBHOOK_DIR = os.environ.get("PAYWATCH_WEBHOOK_DIR", "")
RESTART_CMD = os.environ.get("PAYWATCH_RESTART_CMD", "")
CHAIN = os.environ.get("PAYWATCH_CHAIN", "eth")
ASSET = os.environ.get("PAYWATCH_ASSET", "PWT")
SINK = os.environ.get("PAYWATCH_SINK", "capture")
DEAD_SINK = os.environ.get("PAYWATCH_DEAD_SINK", "deadend")

RUN = secrets.token_hex(4)  # keeps order ids and addresses apart between runs
WAIT = 45.0  # seconds for anything the daemon does on its own
NO_INVOICE = "inv_00000000000000000000000000aa"
E = TypeVar("E", bound=BaseException)


# --- Anvil ----------------------------------------------------------------------


def rpc(method: str, params: List[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(ANVIL_URL, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        answer = json.load(resp)
    if answer.get("error"):
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def mine(blocks: int) -> None:
    rpc("anvil_mine", [hex(blocks)])


def pay_token(to: str, base_units: str) -> str:
    """Sends `base_units` of the token from Anvil's first (unlocked) account to
    `to` with eth_sendTransaction calling transfer(address,uint256); mines
    the block and returns the transaction hash."""
    payer = rpc("eth_accounts", [])[0]
    data = "0xa9059cbb" + to[2:].lower().rjust(64, "0") + format(int(base_units), "064x")
    txid = rpc("eth_sendTransaction", [{"from": payer, "to": TOKEN, "data": data}])
    mine(1)
    receipt = rpc("eth_getTransactionReceipt", [txid])
    if not receipt or receipt.get("status") != "0x1":
        raise RuntimeError(f"the token transfer {txid} failed: {receipt}")
    return str(txid)


# --- the webhook receiver's captures ------------------------------------------------


def captured_webhooks() -> List[Dict[str, Any]]:
    out = []
    for path in sorted(glob.glob(os.path.join(WEBHOOK_DIR, "*.json"))):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        record["body"] = base64.b64decode(record["body_b64"])
        out.append(record)
    return out


def wait_for_webhook(event_id_prefix: str) -> Dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for record in captured_webhooks():
            event_id = webhooks.header(record["headers"], webhooks.EVENT_ID_HEADER) or ""
            if event_id.startswith(event_id_prefix):
                return record
        time.sleep(0.2)
    raise AssertionError(f"no webhook with an event id starting {event_id_prefix!r} within {WAIT:g} s")


def with_headers(headers: Dict[str, str], replacements: Dict[str, str]) -> Dict[str, str]:
    """The headers with some replaced, names matched without regard to case."""
    names = {name.lower() for name in replacements}
    return {**{k: v for k, v in headers.items() if k.lower() not in names}, **replacements}


def until(what: str, check: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


class EndToEnd(unittest.TestCase):
    client: paywatch.Client
    state: Dict[str, Any] = {}

    @classmethod
    def setUpClass(cls) -> None:
        missing = [
            name
            for name, value in [
                ("PAYWATCH_URL", URL),
                ("PAYWATCH_API_KEY", API_KEY),
                ("ANVIL_URL", ANVIL_URL),
                ("PAYWATCH_TOKEN", TOKEN),
                ("PAYWATCH_WEBHOOK_SECRET", WEBHOOK_SECRET),
                ("PAYWATCH_WEBHOOK_DIR", WEBHOOK_DIR),
                ("PAYWATCH_RESTART_CMD", RESTART_CMD),
            ]
            if not value
        ]
        if missing:
            raise unittest.SkipTest("set " + ", ".join(missing) + " (clients/run-e2e.sh does)")
        cls.client = paywatch.Client(URL, api_key=API_KEY, timeout=20)
        print(f"\n  paywatch {paywatch.__version__} from {os.path.dirname(paywatch.__file__)}", file=sys.stderr)

    def raises(self, cls: Type[E], code: Optional[str], fn: Callable[[], Any]) -> E:
        """Runs fn, which must raise cls (an APIError with the API error `code`,
        unless code is None); returns the exception."""
        with self.assertRaises(cls) as caught:
            fn()
        if code is not None:
            self.assertEqual(getattr(caught.exception, "code", None), code)
        return caught.exception

    # --- status, auth, errors ---------------------------------------------------------

    def test_01_status_and_auth(self) -> None:
        self.assertTrue(self.client.health())
        status = self.client.status()
        chain = status.chain(CHAIN)
        self.assertIsNotNone(chain, f"no chain {CHAIN} in /v1/status")
        assert chain is not None
        self.assertEqual(chain.kind, "evm")
        self.assertIn(SINK, status.delivery.sinks)
        self.state["confirmations"] = chain.confirmations
        self.state["start_seq"] = status.events.last_seq

        unauthorized = self.raises(paywatch.AuthenticationError, "unauthorized", paywatch.Client(URL, api_key="bad").status)
        self.assertEqual(unauthorized.status, 401)
        self.raises(paywatch.AuthenticationError, "unauthorized", paywatch.Client(URL).list_invoices)
        if READ_API_KEY:
            reader = paywatch.Client(URL, api_key=READ_API_KEY)
            reader.status()
            self.raises(paywatch.PermissionDeniedError, paywatch.ErrorCode.FORBIDDEN, lambda: reader.cancel_invoice("inv_00000000000000000000000000aa"))

    def test_02_api_errors(self) -> None:
        err = self.raises(paywatch.NotFoundError, "not_found", lambda: self.client.get_invoice(NO_INVOICE))
        self.assertIsInstance(err, paywatch.APIError)
        self.assertEqual((err.status, err.code), (404, "not_found"))
        self.assertEqual(err.code, paywatch.ErrorCode.NOT_FOUND)
        self.assertTrue(err.message)

        self.raises(paywatch.BadRequestError, "invalid_parameter", lambda: self.client.list_invoices(limit=0))
        self.raises(paywatch.BadRequestError, "invalid_parameter", lambda: self.client.list_events(wait=61))
        self.raises(paywatch.BadRequestError, "invalid_amount", lambda: self.client.create_invoice(chain=CHAIN, asset=ASSET, amount="1.0000001", order_id=f"py-{RUN}-bad"))
        self.raises(paywatch.NotFoundError, "unknown_chain", lambda: self.client.create_invoice(chain="no-such-chain", asset=ASSET, amount="1", order_id=f"py-{RUN}-bad"))

        # Money is never a float: refused before any request is made.
        with self.assertRaises(TypeError):
            self.client.create_invoice(chain=CHAIN, asset=ASSET, amount=12.5, order_id=f"py-{RUN}-float")  # type: ignore[arg-type]

        # A daemon that is not there is a connection error, not an API error.
        with self.assertRaises(paywatch.APIConnectionError):
            paywatch.Client("http://127.0.0.1:9", timeout=2).health()

    # --- watches ----------------------------------------------------------------------

    def test_03_watches(self) -> None:
        address = "0x" + secrets.token_hex(20)
        watch = self.client.add_watch(CHAIN, address, label=f"py-{RUN}", metadata={"customer": 7})
        self.assertEqual(watch.address.lower(), address)
        self.assertEqual(watch.label, f"py-{RUN}")
        self.assertEqual(watch.metadata, {"customer": 7})
        again = self.client.add_watch(CHAIN, address, label=f"py-{RUN}", metadata={"customer": 7})
        self.assertEqual(again.created_at, watch.created_at)
        exists = self.raises(paywatch.ConflictError, "watch_exists", lambda: self.client.add_watch(CHAIN, address, label="other"))
        self.assertEqual(exists.details["label"], f"py-{RUN}")
        self.assertEqual(self.client.get_watch(CHAIN, watch.address).label, f"py-{RUN}")

        bulk = [paywatch.NewWatch(CHAIN, "0x" + secrets.token_hex(20), label=f"py-bulk-{i}") for i in range(3)]
        result = self.client.add_watches(bulk + [{"chain": CHAIN, "address": watch.address}])
        self.assertEqual((result.created, result.existing), (3, 1))
        items = [{"chain": CHAIN, "address": "0x" + secrets.token_hex(20)}, {"chain": CHAIN, "address": "nope"}]
        invalid = self.raises(paywatch.BadRequestError, "invalid_batch", lambda: self.client.add_watches(items))
        self.assertEqual([d["item"] for d in invalid.details], [2])

        deleted = self.client.delete_watch(CHAIN, watch.address)
        self.assertTrue(deleted.deleted)
        self.raises(paywatch.NotFoundError, "not_found", lambda: self.client.get_watch(CHAIN, watch.address))

    # --- an invoice, paid on Anvil ---------------------------------------------------

    def test_04_invoice_paid_and_confirmed(self) -> None:
        order_id = f"py-42-{RUN}"
        invoice = self.client.create_invoice(
            chain=CHAIN, asset=ASSET, amount="12.34", order_id=order_id, metadata={"order": 42}
        )
        self.assertIsInstance(invoice, paywatch.Invoice)
        self.assertEqual(invoice.status, "pending")
        self.assertTrue(invoice.is_open)
        self.assertEqual((invoice.amount, invoice.amount_due, invoice.paid), ("12.34", "12.34", "0"))
        self.assertEqual(invoice.amount_due_base, paywatch.parse_units("12.34", invoice.asset.decimals))
        self.assertEqual(invoice.asset.symbol, ASSET)
        self.assertEqual((invoice.asset.contract or "").lower(), TOKEN.lower())
        self.assertEqual(invoice.metadata, {"order": 42})

        # The same order again is the stored invoice; an int or Decimal amount is written out exactly.
        self.assertEqual(
            self.client.create_invoice(chain=CHAIN, asset=ASSET, amount=Decimal("12.340"), order_id=order_id).id,
            invoice.id,
        )
        self.raises(paywatch.ConflictError, "invoice_exists", lambda: self.client.create_invoice(chain=CHAIN, asset=ASSET, amount="13", order_id=order_id))

        fetched = self.client.get_invoice(invoice.id)
        assert isinstance(fetched, paywatch.Invoice)
        self.assertEqual(fetched.address, invoice.address)
        listed = self.client.list_invoices(chain=CHAIN, order_id=order_id)
        self.assertEqual([i.id for i in listed.invoices], [invoice.id])
        self.assertIn(invoice.id, [i.id for i in self.client.iter_invoices(status="pending", limit=2)])
        self.assertTrue(self.client.invoice_qr_svg(invoice.id).lstrip().startswith("<"))

        txid = pay_token(invoice.address, invoice.amount_due_base)
        paid = self.client.wait_for_invoice(invoice.id, ["paid", "confirmed"], timeout=WAIT, poll_interval=0.2)
        self.assertEqual(paid.paid, "12.34")
        mine(self.state["confirmations"] - 1)
        confirmed = self.client.wait_for_invoice(invoice.id, "confirmed", timeout=WAIT, poll_interval=0.2)
        self.assertEqual(confirmed.status, "confirmed")
        self.assertFalse(confirmed.is_open)
        self.assertEqual(len(confirmed.payments), 1)
        payment = confirmed.payments[0]
        self.assertEqual((payment.txid, payment.amount, payment.confirmed), (txid, invoice.amount_due_base, True))

        gave_up = self.raises(
            paywatch.WaitTimeoutError, None, lambda: self.client.wait_for_invoice(invoice.id, "expired", timeout=0.5, poll_interval=0.2)
        )
        self.assertEqual(gave_up.invoice.status, "confirmed")
        self.state.update(invoice=confirmed, txid=txid)

    def test_05_transfers(self) -> None:
        invoice, txid = self.state["invoice"], self.state["txid"]
        page = self.client.list_transfers(CHAIN, address=invoice.address)
        self.assertEqual(len(page.transfers), 1)
        transfer = page.transfers[0]
        self.assertEqual((transfer.txid, transfer.direction, transfer.amount), (txid, "in", invoice.amount_due_base))
        self.assertEqual(paywatch.format_units(transfer.amount, transfer.asset.decimals), "12.34")
        self.assertEqual(transfer.status, "confirmed")
        self.assertGreaterEqual(transfer.confirmations, self.state["confirmations"])
        self.assertEqual([t.txid for t in self.client.iter_transfers(CHAIN, txid=txid)], [txid])

    # --- the webhook -------------------------------------------------------------------

    def test_06_webhook(self) -> None:
        invoice = self.state["invoice"]
        record = wait_for_webhook(f"invoice:{invoice.id}:confirmed:")
        headers, body = record["headers"], record["body"]

        event = webhooks.construct_event(body, headers, WEBHOOK_SECRET)
        self.assertIsInstance(event, paywatch.InvoiceEvent)
        assert isinstance(event, paywatch.InvoiceEvent)
        self.assertEqual(event.type, "invoice.confirmed")
        self.assertEqual(event.invoice.id, invoice.id)
        self.assertEqual(event.invoice.status, "confirmed")
        self.assertEqual(event.id, webhooks.header(headers, "paywatch-event-id"))
        self.state["webhook_event_id"] = event.id

        timestamp = webhooks.header(headers, webhooks.TIMESTAMP_HEADER)
        signature = webhooks.header(headers, webhooks.SIGNATURE_HEADER)
        assert timestamp is not None and signature is not None
        webhooks.verify_signature(WEBHOOK_SECRET, timestamp, body, signature)
        # During a secret rotation either secret is accepted.
        webhooks.verify_signature(["whsec_the_old_secret_0000", WEBHOOK_SECRET], timestamp, body, signature)

        def rejected(reason: str, *args: Any, **kwargs: Any) -> None:
            with self.assertRaises(paywatch.WebhookVerificationError) as caught:
                webhooks.verify_signature(*args, **kwargs)
            self.assertEqual(caught.exception.reason, reason)

        tampered = body.replace(b'"confirmed"', b'"confirmeD"', 1)
        self.assertNotEqual(tampered, body)
        rejected("signature_mismatch", WEBHOOK_SECRET, timestamp, tampered, signature)
        rejected("signature_mismatch", "whsec_a_wrong_secret_00000", timestamp, body, signature)
        rejected("malformed_signature", WEBHOOK_SECRET, timestamp, body, signature[3:])
        rejected("missing_header", WEBHOOK_SECRET, None, body, signature)
        # An old timestamp, correctly signed (a captured request replayed later), is refused.
        old = str(int(time.time()) - 600)
        old_signature = "v1=" + hmac.new(WEBHOOK_SECRET.encode(), old.encode() + b"." + body, hashlib.sha256).hexdigest()
        self.assertEqual(webhooks.sign(WEBHOOK_SECRET, old, body), old_signature)
        rejected("timestamp_out_of_tolerance", WEBHOOK_SECRET, old, body, old_signature)
        webhooks.verify_signature(WEBHOOK_SECRET, old, body, old_signature, tolerance=900)
        with self.assertRaises(paywatch.WebhookVerificationError):
            replaced = with_headers(headers, {webhooks.TIMESTAMP_HEADER: old, webhooks.SIGNATURE_HEADER: old_signature})
            webhooks.construct_event(body, replaced, WEBHOOK_SECRET)
        # The test vector of docs/webhooks.md.
        vector = ("whsec_0123456789abcdef", "1700000000", b'{"a":1}',
                  "v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2")
        self.assertTrue(webhooks.is_valid_signature(*vector, now=1700000000))
        self.assertFalse(webhooks.is_valid_signature(*vector))

    # --- deliveries -------------------------------------------------------------------

    def test_07_deliveries(self) -> None:
        event_id = self.state["webhook_event_id"]
        delivered = [d for d in self.client.iter_deliveries(sink=SINK, status="delivered") if d.event_id == event_id]
        self.assertEqual(len(delivered), 1)
        delivery = self.client.get_delivery(delivered[0].id)
        self.assertEqual((delivery.status, delivery.sink), ("delivered", SINK))
        self.assertIsNotNone(delivery.delivered_ms)
        self.raises(paywatch.ConflictError, "not_dead", lambda: self.client.retry_delivery(delivery.id))
        with self.assertRaises(paywatch.NotFoundError):
            self.client.get_delivery(f"999999999.{SINK}")

        dead = until(
            "a dead delivery of this event to the dead-end sink",
            lambda: [d for d in self.client.iter_deliveries(sink=DEAD_SINK, status="dead") if d.event_id == event_id],
        )
        retried = self.client.retry_delivery(dead[0].id)
        self.assertEqual((retried.id, retried.status), (dead[0].id, "pending"))
        self.assertGreaterEqual(retried.since_ms, dead[0].since_ms)

    # --- cancel -----------------------------------------------------------------------

    def test_08_cancel_settle_invalidate(self) -> None:
        invoice = self.client.create_invoice(chain=CHAIN, asset=ASSET, amount="5", order_id=f"py-43-{RUN}", expires_in=600)
        cancelled = self.client.cancel_invoice(invoice.id)
        self.assertEqual(cancelled.status, "cancelled")
        self.assertEqual(cancelled.closed, "cancelled")
        not_open = self.raises(paywatch.ConflictError, "not_open", lambda: self.client.cancel_invoice(invoice.id))
        self.assertEqual(not_open.status, 409)
        self.state["cancelled"] = cancelled

        # Changes by hand, on another invoice: settled with a note, then invalid.
        other = self.client.create_invoice(chain=CHAIN, asset=ASSET, amount="6", order_id=f"py-45-{RUN}")
        settled = self.client.settle_invoice(other.id, note="paid in cash")
        self.assertEqual(settled.status, "settled")
        assert settled.history is not None
        self.assertEqual([(h.action, h.from_status, h.note) for h in settled.history], [("settled", "pending", "paid in cash")])
        self.raises(paywatch.ConflictError, "not_settleable", lambda: self.client.settle_invoice(other.id))
        self.assertEqual(self.client.invalidate_invoice(other.id).status, "invalid")

    # --- the events iterator, across a restart ---------------------------------------

    def test_09_events_resume_across_restart(self) -> None:
        invoice, cancelled = self.state["invoice"], self.state["cancelled"]
        start = self.state["start_seq"]

        # Everything since this test began, then caught up: the iterator ends.
        stream = self.client.events(after=start, follow=False, limit=3)
        before = list(stream)
        seqs = [e.seq for e in before]
        self.assertEqual(seqs, sorted(set(seqs)), "events out of order or repeated")
        self.assertGreater(seqs[0], start)
        self.assertEqual(stream.cursor, seqs[-1])
        kinds = {(e.type, getattr(getattr(e, "invoice", None), "id", None)) for e in before}
        for kind in [("invoice.paid", invoice.id), ("invoice.confirmed", invoice.id), ("invoice.cancelled", cancelled.id)]:
            self.assertIn(kind, kinds)
        payment = [e for e in before if isinstance(e, paywatch.PaymentEvent) and e.txid == self.state["txid"]]
        self.assertEqual(sorted(e.type for e in payment), ["payment.confirmed", "payment.detected"])
        self.assertEqual(payment[0].amount, invoice.amount_due_base)
        saved = stream.cursor  # what a consumer would have stored

        # New events while the consumer is away: a third invoice, paid.
        third = self.client.create_invoice(chain=CHAIN, asset=ASSET, amount="0.5", order_id=f"py-44-{RUN}")
        pay_token(third.address, third.amount_due_base)
        self.client.wait_for_invoice(third.id, "paid", timeout=WAIT, poll_interval=0.2)

        # Restart the daemon and resume from the saved cursor. The stream starts
        # while the daemon is down, so its first requests fail and are retried.
        restart = subprocess.Popen(RESTART_CMD, shell=True)
        try:
            until("the daemon going down for its restart", lambda: _down(self.client) or restart.poll() is not None, 20)
            mine(self.state["confirmations"] - 1)  # confirmations seen only by the restarted daemon
            resumed = self.client.events(after=saved, wait=5, max_retries=80, max_backoff=0.5)
            after: List[paywatch.Event] = []
            give_up = threading.Timer(WAIT, resumed.close)  # ends the stream after the next long poll
            give_up.start()
            for event in resumed:
                after.append(event)
                if event.type == "invoice.confirmed" and isinstance(event, paywatch.InvoiceEvent) and event.invoice.id == third.id:
                    break
            give_up.cancel()
        finally:
            self.assertEqual(restart.wait(timeout=60), 0, "PAYWATCH_RESTART_CMD failed")

        after_seqs = [e.seq for e in after]
        self.assertEqual(after_seqs, sorted(set(after_seqs)), "events out of order or repeated after the restart")
        self.assertIn("invoice.confirmed", [e.type for e in after], "no invoice.confirmed for the third invoice")
        self.assertFalse(set(after_seqs) & set(seqs), "events repeated across the restart")
        self.assertEqual(resumed.cursor, after_seqs[-1])
        self.assertGreater(resumed.retries, 0, "the stream never met the stopped daemon")
        third_types = [e.type for e in after if isinstance(e, paywatch.InvoiceEvent) and e.invoice.id == third.id]
        self.assertEqual(third_types, ["invoice.paid", "invoice.confirmed"])

        # Nothing missed: the feed read in one go holds exactly these events.
        fresh = list(self.client.events(after=start, follow=False, limit=1000))
        fresh = [e for e in fresh if e.seq <= after_seqs[-1]]
        self.assertEqual([e.id for e in fresh], [e.id for e in before + after])


def _down(client: paywatch.Client) -> bool:
    try:
        client.health()
    except paywatch.APIConnectionError:
        return True
    return False


if __name__ == "__main__":
    unittest.main()
