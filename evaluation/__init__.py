"""Replay and evaluation on recorded ICU data (PhysioNet/CinC Challenge 2019).

    physionet.py     PSV files -> canonical Observations / PatientEvents (pure)
    dataset.py       find the files; unpack the published tarball once into .local/physionet/
    metrics.py       challenge utility, AUROC/AUPRC, sensitivity, PPV, burden, lead time (pure)
    replay.py        ordering, pacing and the Python load-generator API (`replay_physionet`)
    sinks.py         targets: in-process detector, Kafka, MLLP (HL7 v2.5), FHIR (transaction Bundles)
    hl7_messages.py  ADT^A01 / ORU^R01 builders (pure);  fhir_bundles.py  Bundle builders (pure)
    mllp_client.py   blocking MLLP client that waits for each ACK
    evaluate.py      the production DetectorEngine over every stay -> hourly series
    report.py        metrics per rule / ladder level -> report.json, report.md (report_md.py), plots.py
    cli.py           `sepsis-alert replay physionet DIR` and `sepsis-alert eval physionet DIR --out OUTDIR`
"""
