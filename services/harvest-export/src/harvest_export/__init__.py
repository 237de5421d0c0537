"""Harvest-export service: CKAN-compatible Action API and DCAT-AP for data.gov.ua."""
