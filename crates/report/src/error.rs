//! The errors of report building.

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report document whose content is not a submission.
    #[error("not a submitted report: bad or missing field {0}")]
    InvalidSubmission(String),
    /// A submission names a change this replica does not hold.
    #[error("this replica lacks part of the submitted history ({0}); sync, then try again")]
    MissingHistory(String),
    /// The document named as the project is not one (or is not among the documents).
    #[error("document {0} is not a project")]
    NotAProject(String),
    /// A document the report reads does not read as its type.
    #[error(transparent)]
    Model(#[from] passerelle_model::ModelError),
    /// The workbook could not be written.
    #[error(transparent)]
    Workbook(#[from] crate::workbook::WorkbookError),
    /// The Word document could not be written.
    #[error("cannot write the Word document: {0}")]
    Docx(String),
    /// A CSV export could not be written.
    #[error("cannot write CSV: {0}")]
    Csv(String),
}
