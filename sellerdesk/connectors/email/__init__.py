"""The e-mail channel: mail received over SMTP/LMTP or fetched over IMAP becomes conversations
and messages; agents' public replies on e-mail conversations go out through the outbox.

``charsets``, ``htmltext``, ``quotes`` and ``parsing`` read a message; ``threads`` finds its
conversation; ``services`` stores it (the raw bytes first); ``outbound`` queues replies;
``smtp`` and ``imap`` are the transports behind ``sellerdesk smtpd`` and ``sellerdesk fetchmail``.
"""
