"""MES / ERP imports: master data into traceability and the PPM roll-up, in one transaction."""
