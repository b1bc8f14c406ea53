"""The one LLM client: OpenAI-compatible chat completions for the VAU-Eval judge and any LLM-written text.

Bounded retries with exponential backoff (honouring Retry-After) on 429, 5xx, timeouts, dropped connections and
malformed replies; other 4xx stop at once. A minimum interval between requests rate-limits the calls. Every
answer is appended to a JSONL cache keyed by (model, messages, parameters), so an interrupted run resumes without
asking again. The API key is read from an environment variable and never appears in messages, logs or caches."""

import hashlib
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("vauflow.llm")


class LLMError(RuntimeError):
    """The endpoint could not give an answer (after the allowed retries, or a request it refuses)."""


def extract_json(text):
    """The first JSON object in `text`: a ```json fenced block first, else the first decodable {...}; or None."""
    m = re.search(r"```(?:json)?\s*\n(.*?)\n?```", text, re.S)
    candidates = [m.group(1)] if m else []
    candidates.append(text)
    decoder = json.JSONDecoder()
    for c in candidates:
        for start in (i for i, ch in enumerate(c) if ch == "{"):
            try:
                obj, _ = decoder.raw_decode(c[start:])
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


class ChatClient:
    def __init__(
        self,
        base_url,
        model,
        key_env="VAUFLOW_LLM_API_KEY",
        cache=None,
        timeout=60.0,
        retries=5,
        backoff=1.0,
        max_backoff=30.0,
        min_interval=0.0,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.key_env = model, key_env
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self.min_interval, self._last = min_interval, None
        self.cache_path = Path(cache) if cache else None
        self.cache = {}
        if self.cache_path and self.cache_path.exists():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: that answer is asked again
                    continue
                self.cache[row["key"]] = {k: row.get(k) for k in ("content", "model", "system_fingerprint")}
        self.requests = 0  # HTTP requests sent (for tests and logs)

    def key(self, messages, params):
        blob = json.dumps({"model": self.model, "messages": messages, "params": params}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def chat(self, messages, **params):
        """The assistant's text for `messages` (cached)."""
        return self.reply(messages, **params)["content"]

    def reply(self, messages, **params):
        """{"content", "model", "system_fingerprint"} for `messages` (cached): the model that answered, which an alias
        such as deepseek-chat does not pin."""
        k = self.key(messages, params)
        if k in self.cache:
            return self.cache[k]
        reply = self._ask(messages, params)
        self.cache[k] = reply
        if self.cache_path:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"key": k} | reply) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return reply

    def _headers(self):
        key = os.environ.get(self.key_env)
        if not key:
            raise LLMError(f"no API key: set the environment variable {self.key_env}")
        return {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

    def _wait_turn(self):
        if self._last is not None and self.min_interval > 0:
            time.sleep(max(0.0, self._last + self.min_interval - time.monotonic()))
        self._last = time.monotonic()

    def _ask(self, messages, params):
        body = json.dumps({"model": self.model, "messages": messages, **params}).encode()
        last, attempts = None, self.retries + 1  # the first try, then `retries` more
        for attempt in range(1, attempts + 1):
            self._wait_turn()
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            try:
                self.requests += 1
                req = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    reply = json.loads(r.read().decode("utf-8"))
                content = reply["choices"][0]["message"]["content"]
                if not isinstance(content, str):
                    raise ValueError("content is not text")
                return {
                    "content": content,
                    "model": reply.get("model"),
                    "system_fingerprint": reply.get("system_fingerprint"),
                }
            except urllib.error.HTTPError as e:
                if e.code != 429 and e.code < 500:
                    raise LLMError(f"{self.url}: HTTP {e.code} {e.reason} (not retried)") from None
                last = f"HTTP {e.code}"
                retry_after = e.headers.get("Retry-After") if e.headers else None
                if retry_after:
                    try:
                        delay = min(self.max_backoff, max(delay, float(retry_after)))
                    except ValueError:
                        pass
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except (ValueError, KeyError, IndexError, TypeError) as e:
                last = f"malformed reply ({type(e).__name__})"
            if attempt < attempts:
                log.warning("%s: %s; retry %d/%d in %.2f s", self.url, last, attempt, self.retries, delay)
                time.sleep(delay)
        raise LLMError(f"{self.url}: gave up after {attempts} attempts (last: {last})")


def client_from_config(llm, cache=None):
    """A client from the config's `llm` section (the key stays in the environment variable it names)."""
    return ChatClient(
        llm["base_url"],
        llm["model"],
        key_env=llm["api_key_env"],
        cache=cache,
        timeout=llm["timeout_s"],
        retries=llm["retries"],
        min_interval=1.0 / llm["requests_per_s"],
    )
