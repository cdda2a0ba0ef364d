//! The monthly, quarterly and annual closings as console forms: finance's CSV files uploaded
//! with the closing's arguments, posted to `/console/act/settle/month|quarter|year`
//! (`multipart/form-data`) and performed as the same operator action `medsettle settle
//! month|quarter|year` sends to `POST /ops/settle/…` — the form's inputs are named as the
//! action's JSON fields, and [`CloseForm::inputs`] says how each becomes one (a number, a
//! file's text, a file's name and text), so the gateway builds the same body the command line
//! sends.

use std::fmt::Write as _;

use crate::{ACT_PREFIX, BatchKind, PREFIX, escape};

/// How a form input becomes a field of the action's JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Text as typed (`YYYY-MM`, an amount in yuan).
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// A whole number (`year`, `quarter`): a JSON number.
    Number,
    /// A CSV file: its text.
    File,
    /// A CSV file: `{"name": <file name>, "text": <its text>}` (messages point at the name).
    NamedFile,
}

/// One input of a closing form; `name` is the action's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormInput {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: InputKind,
    pub required: bool,
}

const fn input(
    name: &'static str,
    label: &'static str,
    kind: InputKind,
    required: bool,
) -> FormInput {
    FormInput {
        name,
        label,
        kind,
        required,
    }
}

/// `settle/month` (IS-M-3): the fields of `MonthInput`.
const MONTH_INPUTS: [FormInput; 5] = [
    input("period", "结算月份 period (YYYY-MM)", InputKind::Text, true),
    input("pay_date", "支付日期 pay date", InputKind::Date, true),
    input(
        "declarations_csv",
        "申报 declarations CSV",
        InputKind::File,
        true,
    ),
    input(
        "deductions_csv",
        "审核扣款 deductions CSV",
        InputKind::File,
        false,
    ),
    input("advances_csv", "预付 advances CSV", InputKind::File, false),
];

/// `settle/quarter` (IS-Q-1): the fields of `QuarterInput`.
const QUARTER_INPUTS: [FormInput; 4] = [
    input("year", "年度 year", InputKind::Number, true),
    input("quarter", "季度 quarter (1–4)", InputKind::Number, true),
    input("cases_csv", "特殊病例 cases CSV", InputKind::File, true),
    input("pay_date", "支付日期 pay date", InputKind::Date, true),
];

/// `settle/year` (IS-A-2/3/4): the fields of `YearInput` (DIP points, or given amounts).
const YEAR_INPUTS: [FormInput; 8] = [
    input("year", "年度 year", InputKind::Number, true),
    input("as_of", "截至 as of", InputKind::Date, true),
    input(
        "amounts_csv",
        "清算金额 amounts CSV (或 or DIP ↓)",
        InputKind::NamedFile,
        false,
    ),
    input(
        "dip_cases_csv",
        "DIP 病例分值 cases CSV",
        InputKind::File,
        false,
    ),
    input(
        "coefficients_csv",
        "DIP 系数 coefficients CSV",
        InputKind::File,
        false,
    ),
    input(
        "budget",
        "DIP 预算 budget (元 yuan)",
        InputKind::Text,
        false,
    ),
    input(
        "scores_csv",
        "考核得分 scores CSV",
        InputKind::NamedFile,
        true,
    ),
    input("pay_date", "支付日期 pay date", InputKind::Date, true),
];

/// A closing's form: its action, inputs and the operation id fixed when the page rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseForm {
    /// The action's path under `/ops/` (`settle/month`).
    pub action: &'static str,
    pub inputs: &'static [FormInput],
    pub op_id: String,
    pub label: &'static str,
    pub confirm: &'static str,
}

impl CloseForm {
    /// The closing of `kind` (none for daily: a day is approved by `bank/export`).
    pub fn of(kind: BatchKind, op_id: String) -> Option<CloseForm> {
        let (action, inputs, label, confirm): (_, &'static [FormInput], _, _) = match kind {
            BatchKind::Daily => return None,
            BatchKind::Monthly => (
                "settle/month",
                &MONTH_INPUTS,
                "批准月结算 approve the monthly settlement",
                "按上传的申报结算本月并导出支付文件? Settle the month from these files and drop its payment file?",
            ),
            BatchKind::Quarterly => (
                "settle/quarter",
                &QUARTER_INPUTS,
                "批准季度补付 approve the quarterly supplements",
                "按上传的病例补付本季度并导出支付文件? Pay the quarter's supplements and drop the payment file?",
            ),
            BatchKind::Annual => (
                "settle/year",
                &YEAR_INPUTS,
                "批准年度清算 approve the annual clearing",
                "按上传的文件进行年度清算并导出支付文件? Clear the year from these files and drop the payment file?",
            ),
        };
        Some(CloseForm {
            action,
            inputs,
            op_id,
            label,
            confirm,
        })
    }

    /// The inputs of the closing form posting to `action`, if it is one.
    pub fn inputs_of(action: &str) -> Option<&'static [FormInput]> {
        match action {
            "settle/month" => Some(&MONTH_INPUTS),
            "settle/quarter" => Some(&QUARTER_INPUTS),
            "settle/year" => Some(&YEAR_INPUTS),
            _ => None,
        }
    }
}

fn input_html(i: &FormInput) -> String {
    let (kind, extra) = match i.kind {
        InputKind::Text => ("text", ""),
        InputKind::Date => ("date", ""),
        InputKind::Number => ("number", r#" min="1""#),
        InputKind::File | InputKind::NamedFile => ("file", r#" accept=".csv,text/csv""#),
    };
    format!(
        r#"<label>{} <input type="{kind}" name="{n}" id="close-{n}"{extra}{}></label> "#,
        i.label,
        if i.required { " required" } else { "" },
        n = i.name,
    )
}

/// A closing's form as HTML: `POST /console/act/<action>`, `multipart/form-data`, the hidden
/// operation id, one input per field; the console's script asks for confirmation.
pub fn close_form(f: &CloseForm) -> String {
    let mut t = format!(
        r#"<form method="post" class="act-form close-form" enctype="multipart/form-data" action="{PREFIX}{ACT_PREFIX}{a}" data-action="{a}" data-confirm="{c}" id="close-form"><input type="hidden" name="op_id" value="{op}">"#,
        a = f.action,
        c = escape(f.confirm),
        op = escape(&f.op_id),
    );
    for i in f.inputs {
        t.push_str(&input_html(i));
    }
    let _ = write!(t, r#"<button type="submit">{}</button></form>"#, f.label);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_closing_has_a_form_named_as_its_action_fields() {
        assert!(CloseForm::of(BatchKind::Daily, "x".into()).is_none());
        let f = CloseForm::of(BatchKind::Monthly, "console-1-2-3".into()).unwrap();
        let html = close_form(&f);
        assert!(
            html.contains(r#"enctype="multipart/form-data" action="/console/act/settle/month""#)
        );
        assert!(html.contains(r#"name="op_id" value="console-1-2-3""#));
        for name in [
            "period",
            "pay_date",
            "declarations_csv",
            "deductions_csv",
            "advances_csv",
        ] {
            assert!(html.contains(&format!(r#"name="{name}""#)), "{name}");
        }
        assert!(html.contains(r#"type="file" name="declarations_csv" id="close-declarations_csv" accept=".csv,text/csv" required"#));
        assert_eq!(CloseForm::inputs_of("settle/year").unwrap().len(), 8);
        assert!(CloseForm::inputs_of("bank/export").is_none());
        let year = CloseForm::inputs_of("settle/year").unwrap();
        assert!(
            year.iter()
                .any(|i| i.name == "scores_csv" && i.kind == InputKind::NamedFile)
        );
    }
}
