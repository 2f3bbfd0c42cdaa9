"""The DICOM gateway: receive from a PACS, de-identify with the run's engine, deliver to a research PACS.

::

    spool      durable, atomic storage of received instances (0700, outside OUT)
    settle     when a study is complete enough to process (idle, or association released)
    receive    the C-STORE / C-ECHO SCP (pynetdicom) that writes to the spool
    outbox     deliveries per destination and SOP instance (SQLite beside the state)
    dimse      C-STORE SCU keeping each file's transfer syntax when the peer accepts it
    stow       STOW-RS sender (dicomweb-client)
    deliver    senders, retries with exponential backoff, the delivery loop
    service    the whole gateway on one Job: receive -> settle -> run -> deliver
    status     what an operator asks a running (or stopped) gateway, read-only

De-identification goes through :class:`anonymizer.pipeline.job.Job` and its runner,
worker and state, so OUT is the OUT ``anonymizer run`` makes from the same instances.
"""
