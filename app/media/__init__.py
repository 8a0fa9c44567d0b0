"""Media in and out (docs/contracts.md "Inbox contracts", "Media").

* `storage`: where the files are kept (local disk or an S3-compatible store);
* `sniff`: what a file really is (its first bytes), against the allowlist;
* `descriptors`: the attachments a platform's message carries;
* `inbound`: recording them when an event is handled, and the download job;
* `outbound`: `send_media`, sending a stored file or a location through the outbound machinery.
"""
