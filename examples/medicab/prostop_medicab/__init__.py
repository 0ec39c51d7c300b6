"""prostop-medicab: the StopCovid code flow for MediCab, an imaginary practice software.

The example adapter of ``docs/vendors.md``: MediCab hands its diagnoses to the plugin
(:func:`~prostop_medicab.events.diagnosis_event`), and the plugin writes the code back as a
note file in the folder MediCab imports from (:mod:`~prostop_medicab.plugin`).
"""
