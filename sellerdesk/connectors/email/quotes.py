"""Where quoted history starts in a reply, so the desk can fold it (the text is kept whole).

Found in this order, the earliest position winning: an attribution line ("On … wrote:",
its Turkish, Chinese and other kin), an Outlook header block ("From:" followed
by "Sent:"/"Date:"), an "Original Message" rule, or a run of ``>`` lines that lasts to the end.
A message that is nothing but quote is not folded: something must remain to read.
"""

from __future__ import annotations

import re

# Attribution lines end with a colon (ASCII or full-width); the phrases are the common mail
# clients' in the merchants' languages. Gmail may wrap the line once, hence up to two lines.
_PHRASE = (
    r"(?:\bwrote|\bschrieb|a écrit|escribió|ha scritto|escreveu|schreef|skrev|napisał"
    r"|yazdı|написал|написала|писал|пише|写道|寫道|작성|書きました|のメッセージ)\s*[:\uff1a]\s*$"  # noqa: RUF001
)
_ATTRIBUTION = re.compile(
    # Wrapped over two lines only when the first opens like an attribution ("On Mon, …").
    rf"^(?:On|Am|Le|El|Il|Em|Op|Den|W dniu)\b[^\n]{{0,300}}\n[^\n]{{0,200}}?{_PHRASE}"
    rf"|^[^\n]{{0,300}}?{_PHRASE}",
    re.MULTILINE | re.IGNORECASE,
)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Orijinal Mesaj"
    r"|Исходное сообщение|原始邮件|原始郵件|원본 메시지)\s*-{2,}\s*$",
    re.MULTILINE | re.IGNORECASE,
)
_HEADER_BLOCK = re.compile(
    r"^(?:_{10,}\n)?[ \t]*(?:From|Von|De|Kimden|От|发件人|寄件者|보낸 사람)\s*[:\uff1a][^\n]*\n"
    r"(?:[^\n]*\n){0,2}?[ \t]*(?:Sent|Date|Gesendet|Envoyé|Gönderildi|Tarih|Отправлено|Дата"
    r"|发送时间|日期|寄件日期|보낸 날짜)\s*[:\uff1a]",
    re.MULTILINE | re.IGNORECASE,
)


def _trailing_quote(text: str) -> int | None:
    """The start of a block of ``>`` lines (blank lines allowed) that runs to the end."""
    lines = text.split("\n")
    offsets = []
    position = 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    start: int | None = None
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].strip()
        if stripped.startswith(">"):
            start = index
        elif stripped and start is None:
            return None
        elif stripped:
            break
    return offsets[start] if start is not None else None


def quote_start(text: str) -> int | None:
    """The character offset where quoted history starts, or None."""
    found = [
        m.start()
        for m in (_ATTRIBUTION.search(text), _ORIGINAL.search(text), _HEADER_BLOCK.search(text))
        if m is not None
    ]
    trailing = _trailing_quote(text)
    if trailing is not None:
        found.append(trailing)
    if not found:
        return None
    start = min(found)
    # Fold from the start of the line, and only if something is left above it.
    start = text.rfind("\n", 0, start) + 1
    if not text[:start].strip():
        return None
    return start
